"""Utilities: counters and small helpers."""
