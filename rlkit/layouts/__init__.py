"""How a builder's pieces are laid out: `local` (one process), `distributed` (Ray), `gradients`
(A3C's worker threads) and `anakin` (environment and agent jitted together).

Each layout is built from the same `ActorLearnerBuilder`; the experiment runner drives any
of them through a layout factory (`base.LayoutFactory`).
"""

# The single-process layouts a run may name: "auto" picks the Anakin one for an environment
# written in JAX, else the local one. Names only, so the command line reads them cheaply.
LAYOUTS = ("auto", "local", "anakin")
