"""DQNBuilder: the pieces of any DQN-family agent, assembled the same way in one process or
many. A variant is a config class, a network head and a loss: one row of `VARIANTS`; the
rest (learner, replay, acting, checkpoints) is shared."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import optax

from rlkit import loggers, replay, specs, types
from rlkit.agents import off_policy, variants
from rlkit.agents.dqn import acting, learning, losses
from rlkit.agents.dqn import networks as dqn_networks
from rlkit.agents.dqn.config import C51Config, DQNConfig, IQNConfig, MDQNConfig, QRDQNConfig
from rlkit.agents.dqn.networks import HeadConfig
from rlkit.jax import actors, optimizers
from rlkit.jax import learning as jax_learning
from rlkit.replay import frames
from rlkit.utils import counting


def _q_head(config: DQNConfig, head: HeadConfig) -> Callable[..., dqn_networks.ValueOutput]:
    return functools.partial(dqn_networks.q_head, config=head)


def _no_target_options(config: DQNConfig) -> dict[str, Any]:
    return {}


class DQNVariant(NamedTuple):
    """What makes a DQN-family variant, from its config: the network head
    (`head(config, HeadConfig) -> (features, **options) -> ValueOutput`), the loss
    (`loss(config) -> learning.LossFn`), the head options of the loss's target-network pass
    at the next observations (so the learner can make that pass for a whole learner step
    at once), and whether the head samples quantile fractions (acting then needs a key)."""

    loss: Callable[[Any], learning.LossFn]
    head: Callable[[Any, HeadConfig], Callable[..., dqn_networks.ValueOutput]] = _q_head
    target_options: Callable[[Any], dict[str, Any]] = _no_target_options
    samples_quantiles: bool = False


# A config class's variant is its own row, else its nearest base class's (Rainbow is C51's).
VARIANTS: dict[type[DQNConfig], DQNVariant] = {
    DQNConfig: DQNVariant(loss=lambda c: losses.q_learning_loss(c.huber_delta, c.double_q)),
    C51Config: DQNVariant(
        loss=lambda c: losses.categorical_loss(c.double_q),
        head=lambda c, head: functools.partial(
            dqn_networks.categorical_head,
            config=head,
            num_atoms=c.num_atoms,
            v_min=c.v_min,
            v_max=c.v_max,
        ),
    ),
    QRDQNConfig: DQNVariant(
        loss=lambda c: losses.quantile_loss(c.huber_delta, c.double_q),
        head=lambda c, head: functools.partial(
            dqn_networks.quantile_head, config=head, num_quantiles=c.num_quantiles
        ),
    ),
    IQNConfig: DQNVariant(
        loss=lambda c: losses.quantile_loss(
            c.huber_delta,
            c.double_q,
            num_quantiles=c.num_tau_samples,
            num_target_quantiles=c.num_tau_prime_samples,
            num_selector_quantiles=c.num_quantile_samples,
        ),
        head=lambda c, head: functools.partial(
            dqn_networks.implicit_quantile_head,
            config=head,
            num_quantiles=c.num_quantile_samples,
            embedding_dim=c.quantile_embedding_dim,
        ),
        target_options=lambda c: {"num_quantiles": c.num_tau_prime_samples},
        samples_quantiles=True,
    ),
    MDQNConfig: DQNVariant(
        loss=lambda c: losses.munchausen_loss(
            c.entropy_temperature, c.munchausen_coefficient, c.clip_value_min, c.huber_delta
        )
    ),
}


def variant_of(config: DQNConfig) -> DQNVariant:
    """`config`'s row of `VARIANTS` (its class's, else its nearest base class's)."""
    return variants.variant_of(VARIANTS, config, "rlkit.agents.dqn.builder.VARIANTS")


def make_networks(environment_spec: specs.EnvironmentSpec, config: DQNConfig):
    """`config`'s value network for `environment_spec` (its variant's head)."""
    variant = variant_of(config)
    return dqn_networks.make_value_networks(
        environment_spec,
        config,
        functools.partial(variant.head, config),
        samples_quantiles=variant.samples_quantiles,
    )


class DQNBuilder(off_policy.OffPolicyBuilder):
    """Acme-style builder of a DQN-family agent: its variant's networks, learner (loss,
    optimiser, target network, prioritised replay's weights) and epsilon-greedy policies,
    on the off-policy replay side (`off_policy.OffPolicyBuilder`).

    Args:
      config: the hyperparameters; a `DQNConfig` or a variant's subclass (`C51Config`,
        `QRDQNConfig`, `IQNConfig`, `MDQNConfig`, `RainbowConfig`).
    """

    def __init__(self, config: DQNConfig):
        self._variant = variant_of(config)  # A config of no variant fails here, not mid-run.
        super().__init__(config)

    @property
    def config(self) -> DQNConfig:
        return self._config

    def item_signature(self, environment_spec: specs.EnvironmentSpec) -> Any:
        cfg = self._config
        if cfg.frame_storage == "shared":  # Each frame stored once per item.
            return frames.frame_block_signature(
                environment_spec, cfg.transitions_per_item, cfg.n_step
            )
        return super().item_signature(environment_spec)

    @property
    def adder_class(self) -> type[replay.NStepTransitionAdder]:
        if self._config.frame_storage == "shared":
            return frames.FrameStackTransitionAdder
        return replay.NStepTransitionAdder

    def make_learner(
        self,
        random_key: types.PRNGKey,
        networks: dqn_networks.ValueNetworks,
        dataset: Iterator[types.Batch],
        logger: loggers.Logger | None = None,
        environment_spec: specs.EnvironmentSpec | None = None,
        replay_client: replay.ReplayClient | None = None,
        counter: counting.Counter | None = None,
        device: Any = None,
    ) -> learning.DQNLearner:
        del environment_spec
        cfg = self._config
        off_policy.check_prioritized_table(cfg, replay_client)
        return learning.DQNLearner.from_parts(
            self._learner_parts(networks),
            random_key,
            dataset,
            replay_client=replay_client,
            priority_table=cfg.replay_table_name if cfg.prioritized else None,
            counter=counter,
            logger=logger,
            device=device,
        )

    def make_learner_parts(
        self, networks: dqn_networks.ValueNetworks, environment_spec: specs.EnvironmentSpec
    ) -> jax_learning.LearnerParts:
        del environment_spec
        self.device_experience()  # Refuses a config the jitted layout cannot run.
        return self._learner_parts(networks)

    def _learner_parts(self, networks: dqn_networks.ValueNetworks) -> jax_learning.LearnerParts:
        """The parts every layout's learner runs (`learning.make_learner_parts`)."""
        cfg = self._config
        learning_rate = cfg.learning_rate
        if cfg.learning_rate_decay_steps:
            learning_rate = optax.linear_schedule(
                cfg.learning_rate, 0.0, cfg.learning_rate_decay_steps
            )
        variant = self._variant
        return learning.make_learner_parts(
            networks,
            variant.loss(cfg),
            optimizers.make_optimizer(learning_rate, "adam", cfg.adam_eps, cfg.max_gradient_norm),
            batch_size=cfg.batch_size,
            target_update_period=cfg.target_update_period,
            importance_sampling_exponent=off_policy.importance_weight_exponent(cfg),
            decode=frames.decode_frame_blocks if cfg.frame_storage == "shared" else None,
            unroll=cfg.torso != "mlp",
            target_update_rate=cfg.target_update_rate,
            target_options=variant.target_options(cfg),
            sgd_steps_per_step=cfg.num_sgd_steps_per_step,
        )

    def device_refusal(self) -> str | None:
        if self._config.frame_storage == "shared":
            return (
                "frame_storage='shared' stores each frame once per replay item, as frame blocks "
                "that the host's FrameStackTransitionAdder writes and the learner decodes, where "
                "the device replay holds whole observations (set frame_storage: stacked to run "
                "it on the device)"
            )
        return super().device_refusal()

    def make_policy(
        self,
        networks: dqn_networks.ValueNetworks,
        environment_spec: specs.EnvironmentSpec,
        evaluation: bool = False,
    ) -> actors.ActorCore:
        cfg = self._config
        num_actions = dqn_networks.num_discrete_actions(environment_spec)
        if evaluation:  # The deterministic network: noise-free, evenly spaced quantiles.
            return acting.make_epsilon_greedy_policy(networks, cfg.evaluation_epsilon, num_actions)
        decay = optax.linear_schedule(
            cfg.epsilon_init, cfg.epsilon_final, max(cfg.epsilon_decay_steps, 1)
        )
        # Each sub-environment's policy state counts its own steps; they step together, so
        # the environment steps taken are that count times num_envs.
        schedule = decay if cfg.num_envs == 1 else lambda steps: decay(steps * cfg.num_envs)
        return acting.make_epsilon_greedy_policy(
            networks, schedule, num_actions, sample_network=networks.stochastic
        )

    def make_actor_policy(
        self,
        networks: dqn_networks.ValueNetworks,
        environment_spec: specs.EnvironmentSpec,
        actor_index: int,
        num_actors: int,
    ) -> actors.ActorCore:
        cfg = self._config
        if not cfg.distributed_epsilon:
            return self.make_policy(networks, environment_spec)
        exponent = 1 + cfg.distributed_epsilon_alpha * actor_index / max(num_actors - 1, 1)
        return acting.make_epsilon_greedy_policy(
            networks,
            cfg.distributed_epsilon**exponent,
            dqn_networks.num_discrete_actions(environment_spec),
            sample_network=networks.stochastic,
        )
