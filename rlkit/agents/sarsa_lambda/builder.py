"""TraceBuilder: linear learners with eligibility traces over tile coding, learning online
from every step of one stream of experience.

The adder writes each transition once the action after it is known (`SarsaAdder`) into a
replay queue; the agent learns from it at once, one learner step per item on the acting
thread, and the actor acts on the new weights from its next step (`RolloutSchedule` of one
item): Sutton & Barto's online loop through the `Actor` / `Learner` interfaces, with no
replay. An agent is a config class and a row of `VARIANTS`: what one transition teaches
(Sarsa(λ)'s action values or TD(λ)'s state values) and whether it acts on what it learns.
One trace belongs to one stream, so these agents run in one process with one environment:
not batched, not on Ray (`check_distributed`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from rlkit import builders, core, errors, loggers, replay, specs, types
from rlkit.agents import variants
from rlkit.agents.on_policy.builder import RolloutSchedule
from rlkit.agents.sarsa_lambda import acting, learning
from rlkit.agents.sarsa_lambda.adder import SarsaAdder, item_signature
from rlkit.agents.sarsa_lambda.config import SarsaLambdaConfig, TDLambdaConfig
from rlkit.agents.sarsa_lambda.networks import TileCodedValues
from rlkit.jax import actors, tile_coding
from rlkit.utils import counting

# Room for what one environment step can write before the agent learns from it: the last
# transitions of an episode (two at a LAST step), and one left by an episode cut short.
QUEUE_SIZE = 8


class TraceVariant(NamedTuple):
    """What makes a trace agent, from its config class: what it learns from one transition
    (`learning.sarsa_step` or `learning.td_step`, given the config) and whether it learns
    action values and acts ε-greedily on them (control) or predicts a given policy."""

    step_of: Callable[[Any], learning.StepOf]
    control: bool


# A config class's agent is its own row, else its nearest base class's.
VARIANTS: dict[type[TDLambdaConfig], TraceVariant] = {
    TDLambdaConfig: TraceVariant(learning.td_step, control=False),
    SarsaLambdaConfig: TraceVariant(learning.sarsa_step, control=True),
}


def variant_of(config: TDLambdaConfig) -> TraceVariant:
    """`config`'s row of `VARIANTS` (its class's, else its nearest base class's)."""
    return variants.variant_of(VARIANTS, config, "rlkit.agents.sarsa_lambda.builder.VARIANTS")


def _observation_box(
    environment_spec: specs.EnvironmentSpec, config: TDLambdaConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The box the tiles cover: the config's bounds, else the observation spec's; a
    `ConfigError` naming the fix for anything tile coding cannot take."""
    observations = environment_spec.observations
    name = type(config).__name__
    if not hasattr(observations, "shape") or not np.issubdtype(observations.dtype, np.floating):
        raise errors.ConfigError(
            f"{name} tile-codes a vector of floats; this environment's observations are "
            f"{observations!r}."
        )
    size = int(np.prod(observations.shape))
    if config.observation_low:
        low, high = np.asarray(config.observation_low), np.asarray(config.observation_high)
        if low.shape != (size,):
            raise errors.ConfigError(
                f"{name}.observation_low and observation_high give {low.shape[0]} bounds; the "
                f"observations have {size} dimensions."
            )
        return low, high
    low = np.broadcast_to(getattr(observations, "minimum", -np.inf), observations.shape)
    high = np.broadcast_to(getattr(observations, "maximum", np.inf), observations.shape)
    low, high = low.reshape(-1).astype(np.float64), high.reshape(-1).astype(np.float64)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise errors.ConfigError(
            f"{name} spreads its tiles over each observation dimension's range, but this "
            f"environment's observations are unbounded (low {low.tolist()}, high "
            f"{high.tolist()}): set observation_low and observation_high, e.g. --set "
            f"observation_low=[...] --set observation_high=[...] with {size} values each."
        )
    return low, high


def make_networks(
    environment_spec: specs.EnvironmentSpec, config: TDLambdaConfig
) -> TileCodedValues:
    """The tile coder and linear values `config` learns for `environment_spec`: action
    values over discrete actions for control (Sarsa(λ)), state values for prediction."""
    control = variant_of(config).control
    num_actions = None
    if control:
        actions = environment_spec.actions
        if not hasattr(actions, "num_values"):
            raise errors.ConfigError(
                f"{type(config).__name__} learns one value per action and acts in discrete "
                f"action spaces; this environment's actions are {actions!r}. For continuous "
                "actions use an actor-critic (sac, td3) or an on-policy agent (ppo)."
            )
        num_actions = int(actions.num_values)
    low, high = _observation_box(environment_spec, config)
    coder = tile_coding.TileCoder(
        config.num_tilings,
        scales=config.tiles_per_dimension / (high - low),
        size=config.iht_size,
        low=low,
        high=high,
        int_sizes=() if num_actions is None else (num_actions,),
    )
    return TileCodedValues(coder, num_actions)


class TraceBuilder(builders.ActorLearnerBuilder):
    """Acme-style builder of the trace agents: true online Sarsa(λ) (`SarsaLambdaConfig`)
    and TD(λ) prediction of a fixed `policy` (`TDLambdaConfig`; `policy` is a pure JAX
    function `(observation, key) -> action`, or an `ActorCore`, see
    `acting.make_fixed_policy`).
    """

    def __init__(
        self,
        config: TDLambdaConfig,
        policy: acting.FixedPolicy | actors.ActorCore | None = None,
    ):
        self._variant = variant_of(config)  # A config of no agent fails here, not mid-run.
        if not self._variant.control and policy is None:
            raise errors.ConfigError(
                f"{type(config).__name__} predicts the values of a given policy: pass it "
                "(TraceBuilder(config, policy=...), an (observation, key) -> action function)."
            )
        self._config = config
        self._fixed_policy = policy

    @property
    def config(self) -> TDLambdaConfig:
        return self._config

    def check_distributed(self) -> None:
        """Raises `ConfigError`: a trace is one stream's, so these agents are not for Ray."""
        raise errors.ConfigError(
            f"{type(self._config).__name__} learns online with an eligibility trace, which "
            "follows one stream of experience step by step: it runs in one process with one "
            "environment. Drop --distributed (or use an agent with replay, e.g. dqn)."
        )

    def make_replay_tables(
        self, environment_spec: specs.EnvironmentSpec, policy: actors.ActorCore | None = None
    ) -> list[replay.TableConfig]:
        del policy
        signature = item_signature(environment_spec)
        return [replay.queue_table(self._config.replay_table_name, QUEUE_SIZE, signature)]

    def make_dataset_iterator(self, replay_client: replay.ReplayClient) -> Iterator[types.Batch]:
        # One item per learner step; items have no block axis to flatten.
        return replay_client.dataset(self._config.replay_table_name, 1, flatten_blocks=False)

    def make_adder(
        self,
        replay_client: replay.ReplayClient,
        environment_spec: specs.EnvironmentSpec,
        policy: actors.ActorCore | None = None,
    ) -> SarsaAdder:
        del policy
        return SarsaAdder(replay_client, self._config.replay_table_name, environment_spec)

    def make_learner(
        self,
        random_key: types.PRNGKey,
        networks: TileCodedValues,
        dataset: Iterator[types.Batch],
        logger: loggers.Logger | None = None,
        environment_spec: specs.EnvironmentSpec | None = None,
        replay_client: replay.ReplayClient | None = None,
        counter: counting.Counter | None = None,
        device: Any = None,
    ) -> learning.TraceLearner:
        del random_key, environment_spec, replay_client  # Deterministic; nothing to write back.
        return learning.TraceLearner(
            networks,
            self._config,
            self._variant.step_of(self._config),
            dataset,
            counter=counter,
            logger=logger,
            device=device,
        )

    def learning_schedule(self) -> RolloutSchedule:
        # Each transition as soon as it is written, and the next action on the new weights.
        return RolloutSchedule(1, fetch_after_learning=True)

    def make_policy(
        self,
        networks: TileCodedValues,
        environment_spec: specs.EnvironmentSpec,
        evaluation: bool = False,
    ) -> actors.ActorCore:
        del environment_spec
        if not self._variant.control:
            return acting.make_fixed_policy(self._fixed_policy)
        cfg = self._config
        return acting.make_epsilon_greedy_policy(
            networks, cfg.evaluation_epsilon if evaluation else cfg.epsilon
        )

    def make_actor(
        self,
        random_key: types.PRNGKey,
        policy: actors.ActorCore,
        environment_spec: specs.EnvironmentSpec,
        variable_source: core.VariableSource | None = None,
        adder: replay.Adder | None = None,
        num_envs: int | None = None,
    ) -> actors.GenericActor:
        del environment_spec
        return actors.make_actor(policy, random_key, variable_source, adder, num_envs=num_envs)
