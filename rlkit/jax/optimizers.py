"""The one optimiser factory every family's builder uses."""

from __future__ import annotations

import optax

OPTIMIZERS = ("adam", "rmsprop")


def make_optimizer(
    learning_rate: float | optax.Schedule,
    kind: str = "adam",
    eps: float = 1e-8,
    max_gradient_norm: float = 0.0,
) -> optax.GradientTransformation:
    """An optax optimiser, after global-norm gradient clipping when `max_gradient_norm` > 0.

    `kind` "adam" (epsilon `eps`), or "rmsprop" as PyTorch's (decay 0.99, `eps` added
    outside the square root), which Stable-Baselines3's A2C uses.
    """
    if kind == "adam":
        optimizer = optax.adam(learning_rate, eps=eps)
    elif kind == "rmsprop":
        optimizer = optax.rmsprop(learning_rate, decay=0.99, eps=eps, eps_in_sqrt=False)
    else:
        raise ValueError(f"Unknown optimizer {kind!r}; choose from: {', '.join(OPTIMIZERS)}.")
    if max_gradient_norm > 0:
        return optax.chain(optax.clip_by_global_norm(max_gradient_norm), optimizer)
    return optimizer
