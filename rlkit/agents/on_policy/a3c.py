"""A3C: the on-policy family's A2C loss, learned by asynchronous gradients.

A worker's learner step computes the gradient of its config's loss (A2C's) on its own
rollouts at the parameters it acts with (`make_gradient_fn`) and sends it to the parameter
server, which applies it with the family's optimiser (`make_apply_fn`: RMSprop, its
statistics shared by every worker, the learning rate annealed with the run as A2C's). The
builder is the family's, bound to a server per worker (`A3CBuilder.bind`); the layouts lay
the workers out (`rlkit.layouts.gradients` in one process, the Ray layout across many).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import optax

from rlkit import builders, core, errors, loggers, replay, specs, types
from rlkit.agents.on_policy import learning
from rlkit.agents.on_policy import networks as networks_lib
from rlkit.agents.on_policy.builder import OnPolicyBuilder
from rlkit.agents.on_policy.config import A3CConfig
from rlkit.agents.on_policy.networks import PolicyValueNetworks
from rlkit.jax import parameter_server
from rlkit.utils import counting


def make_gradient_fn(
    networks: PolicyValueNetworks, config: A3CConfig, loss_fn: learning.LossFn
) -> parameter_server.GradientFn:
    """`(variables, rollouts) -> (gradients, metrics)`: the gradient of `loss_fn` on one
    worker's rollouts (`Step`s [num_envs, rollout_length + 1]) with n-step advantages, at
    the parameters in `variables["policy"]`."""

    def gradients(variables: dict[str, Any], data: Any) -> tuple[Any, dict[str, jax.Array]]:
        params = variables["policy"].network
        batch = learning.rollout_minibatch(networks, config, params, data, "gae")
        loss = lambda p: loss_fn(networks, config, p, batch, jnp.asarray(1.0))  # noqa: E731
        return jax.grad(loss, has_aux=True)(params)

    return gradients


def make_apply_fn(
    optimizer: optax.GradientTransformation, config: A3CConfig
) -> parameter_server.ApplyFn:
    """`(state, gradients) -> (state, metrics)`: one worker's gradients applied by the
    server, the step scaled by the fraction of the run left when `anneal_env_steps` is set
    (as `learning.make_update` does for A2C)."""

    def apply(state: learning.OnPolicyState, gradients: Any):
        remaining = learning.remaining_fraction(config, state.steps)
        params, opt_state = learning.annealed_step(
            optimizer, gradients, state.opt_state, state.params, remaining
        )
        metrics = {
            "gradient_norm": optax.global_norm(gradients),
            "learning_rate": config.learning_rate * remaining,
        }
        return state._replace(params=params, opt_state=opt_state, steps=state.steps + 1), metrics

    return apply


def _served(state: learning.OnPolicyState) -> dict[str, Any]:
    return {"policy": networks_lib.PolicyParams(state.params, state.observation_statistics)}


class A3CBuilder(OnPolicyBuilder, builders.AsynchronousGradientBuilder):
    """The on-policy builder of A3C: its tables, adders, policies and actors are the
    family's; its learner sends gradients to a parameter server (`bind`), or, unbound, to
    one of its own (a single worker: A2C on one stream, stepping as A3C's workers do)."""

    def __init__(
        self,
        config: A3CConfig,
        server: parameter_server.GradientSink | None = None,
        worker: int = 0,
    ):
        super().__init__(config)
        self._server, self._worker = server, worker

    @property
    def num_workers(self) -> int:
        return self._config.num_workers

    def device_experience(self) -> builders.Rollouts:
        raise errors.ConfigError(
            "A3C cannot run in the Anakin layout: its workers send gradients asynchronously "
            "from threads or Ray actors, which one jitted program does not have: train a2c (its "
            "synchronous counterpart), or a3c with --layout local on a gymnasium environment."
        )

    def bind(self, server: parameter_server.GradientSink, worker: int) -> A3CBuilder:
        return A3CBuilder(self._config, server, worker)

    def make_parameter_server(
        self,
        random_key: types.PRNGKey,
        networks: PolicyValueNetworks,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        on_host: bool = False,
    ) -> parameter_server.ParameterServer:
        optimizer = learning.make_optimizer(self._config, self._variant.optimizer)
        state = learning.initial_state(networks, optimizer, random_key, self._config)
        apply = make_apply_fn(optimizer, self._config)
        return parameter_server.ParameterServer(state, apply, _served, counter, logger, on_host)

    def make_learner(
        self,
        random_key: types.PRNGKey,
        networks: PolicyValueNetworks,
        dataset: Iterator[types.Batch],
        logger: loggers.Logger | None = None,
        environment_spec: specs.EnvironmentSpec | None = None,
        replay_client: replay.ReplayClient | None = None,
        counter: counting.Counter | None = None,
        device: Any = None,
    ) -> core.Learner:
        del environment_spec, replay_client, device  # The server's device is its own.
        server = self._server
        if server is None:  # Unbound: a server of its own, counting the learner steps.
            server = self.make_parameter_server(random_key, networks, counter, logger)
        gradient_fn = make_gradient_fn(networks, self._config, self._variant.loss)
        return parameter_server.GradientLearner(gradient_fn, dataset, server, self._worker)
