"""ActorCriticBuilder: the pieces of DDPG, TD3, SAC and D4PG, assembled the same way in one
process or many. An agent is a config class, an SGD step and a policy head and critic: one
row of `VARIANTS`; the replay table, adder, dataset and schedule are every off-policy
agent's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from rlkit import loggers, replay, specs, types
from rlkit.agents import off_policy, variants
from rlkit.agents.actor_critic import acting, learning
from rlkit.agents.actor_critic import networks as ac_networks
from rlkit.agents.actor_critic.config import (
    ActorCriticConfig,
    D4PGConfig,
    DDPGConfig,
    SACConfig,
    TD3Config,
)
from rlkit.agents.actor_critic.networks import ActorCriticNetworks
from rlkit.jax import actors
from rlkit.jax import learning as jax_learning
from rlkit.utils import counting

SGDStepMaker = Callable[[Any, ActorCriticNetworks, learning.Optimizers], jax_learning.SGDStep]


def _action_noise(config: DDPGConfig) -> acting.ActionNoise:
    return acting.ActionNoise(
        config.exploration_noise, config.exploration_noise_std, config.ou_theta, config.ou_dt
    )


class ActorCriticVariant(NamedTuple):
    """What makes an actor-critic agent, from its config: its SGD step
    (`sgd_step(config, networks, optimizers)`), its policy head ("deterministic" or
    "tanh_gaussian"), its critics (`num_critics` scalar ones whose minimum is the target, or
    one categorical critic), its exploration noise (None: the policy samples), and SAC's
    temperature (its initial value and learning rate; None: no temperature)."""

    sgd_step: SGDStepMaker
    policy: str = "deterministic"
    num_critics: int = 2
    categorical_critic: bool = False
    noise: Callable[[Any], acting.ActionNoise] | None = _action_noise
    temperature: Callable[[Any], tuple[float, float]] | None = None


# A config class's agent is its own row, else its nearest base class's.
VARIANTS: dict[type[ActorCriticConfig], ActorCriticVariant] = {
    DDPGConfig: ActorCriticVariant(
        sgd_step=lambda c, networks, optimizers: learning.td3_sgd_step(
            networks, optimizers, c, policy_delay=1, target_noise=0.0, target_noise_clip=0.0
        ),
        num_critics=1,
    ),
    TD3Config: ActorCriticVariant(
        sgd_step=lambda c, networks, optimizers: learning.td3_sgd_step(
            networks, optimizers, c, c.policy_delay, c.target_noise, c.target_noise_clip
        ),
    ),
    SACConfig: ActorCriticVariant(
        sgd_step=lambda c, networks, optimizers: learning.sac_sgd_step(
            networks, optimizers, c, c.target_entropy_per_dimension * networks.action_size
        ),
        policy="tanh_gaussian",
        noise=None,
        temperature=lambda c: (c.initial_temperature, c.temperature_learning_rate),
    ),
    D4PGConfig: ActorCriticVariant(
        sgd_step=lambda c, networks, optimizers: learning.d4pg_sgd_step(networks, optimizers, c),
        num_critics=1,
        categorical_critic=True,
    ),
}


def variant_of(config: ActorCriticConfig) -> ActorCriticVariant:
    """`config`'s row of `VARIANTS` (its class's, else its nearest base class's)."""
    return variants.variant_of(VARIANTS, config, "rlkit.agents.actor_critic.builder.VARIANTS")


def make_networks(
    environment_spec: specs.EnvironmentSpec, config: ActorCriticConfig
) -> ActorCriticNetworks:
    """`config`'s policy and critics for `environment_spec`."""
    variant = variant_of(config)
    return ac_networks.make_actor_critic_networks(
        environment_spec, config, variant.policy, variant.num_critics, variant.categorical_critic
    )


class ActorCriticBuilder(off_policy.OffPolicyBuilder):
    """Acme-style builder of a continuous-control actor-critic agent: its networks,
    optimisers, SGD step and policies (its row of `VARIANTS`), on the off-policy replay side
    (`off_policy.OffPolicyBuilder`); a non-finite action is refused with the step.

    Args:
      config: a `DDPGConfig`, `TD3Config`, `SACConfig` or `D4PGConfig`.
    """

    check_finite_actions = True

    def __init__(self, config: ActorCriticConfig):
        self._variant = variant_of(config)  # A config of no agent fails here, not mid-run.
        super().__init__(config)

    @property
    def config(self) -> ActorCriticConfig:
        return self._config

    def make_learner(
        self,
        random_key: types.PRNGKey,
        networks: ActorCriticNetworks,
        dataset: Iterator[types.Batch],
        logger: loggers.Logger | None = None,
        environment_spec: specs.EnvironmentSpec | None = None,
        replay_client: replay.ReplayClient | None = None,
        counter: counting.Counter | None = None,
        device: Any = None,
    ) -> learning.ActorCriticLearner:
        del environment_spec
        cfg = self._config
        off_policy.check_prioritized_table(cfg, replay_client)
        return learning.ActorCriticLearner.from_parts(
            self._learner_parts(networks),
            random_key,
            dataset,
            replay_client=replay_client,
            priority_table=learning.priority_table(cfg),
            counter=counter,
            logger=logger,
            device=device,
        )

    def make_learner_parts(
        self, networks: ActorCriticNetworks, environment_spec: specs.EnvironmentSpec
    ) -> jax_learning.LearnerParts:
        del environment_spec
        self.device_experience()  # Refuses a config the jitted layout cannot run.
        return self._learner_parts(networks)

    def _learner_parts(self, networks: ActorCriticNetworks) -> jax_learning.LearnerParts:
        """The parts every layout's learner runs (`learning.make_learner_parts`)."""
        optimizers = self.make_optimizers()
        return learning.make_learner_parts(
            self._config,
            networks,
            self.make_sgd_step(networks, optimizers),
            optimizers,
            self.initial_temperature,
        )

    def make_optimizers(self) -> learning.Optimizers:
        """The policy's, the critics' and the temperature's optimisers."""
        temperature = self._variant.temperature
        rate = None if temperature is None else temperature(self._config)[1]
        return learning.make_optimizers(self._config, rate)

    @property
    def initial_temperature(self) -> float:
        """SAC's temperature at the start (1 for the agents without one)."""
        temperature = self._variant.temperature
        return 1.0 if temperature is None else temperature(self._config)[0]

    def make_sgd_step(
        self, networks: ActorCriticNetworks, optimizers: learning.Optimizers
    ) -> jax_learning.SGDStep:
        """The agent's SGD step (see `rlkit.jax.learning.SGDStep`)."""
        return self._variant.sgd_step(self._config, networks, optimizers)

    def make_policy(
        self,
        networks: ActorCriticNetworks,
        environment_spec: specs.EnvironmentSpec,
        evaluation: bool = False,
    ) -> actors.ActorCore:
        noise = None if self._variant.noise is None else self._variant.noise(self._config)
        return acting.make_policy(
            networks,
            tuple(environment_spec.actions.shape),
            # Counted per sub-environment: the warm-up's environment steps are shared out.
            -(-self._config.random_action_steps // self._config.num_envs),
            noise,
            evaluation,
        )
