"""Agents: one folder each, with config, networks, learning, acting and builder."""
