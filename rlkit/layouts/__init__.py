"""How a builder's pieces are laid out: `local` (one process) and `distributed` (Ray).

Each layout is built from the same `ActorLearnerBuilder`; the experiment runner drives any
of them through a layout factory (`base.LayoutFactory`).
"""
