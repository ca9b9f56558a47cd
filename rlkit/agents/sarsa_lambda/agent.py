"""Ready-to-run single-process trace agents: true online Sarsa(λ), and TD(λ) prediction."""

from __future__ import annotations

from typing import Any

from rlkit import loggers, specs
from rlkit.agents.sarsa_lambda import acting
from rlkit.agents.sarsa_lambda import config as config_lib
from rlkit.agents.sarsa_lambda.builder import TraceBuilder, make_networks
from rlkit.jax import actors
from rlkit.layouts.local import ConfiguredAgent, LocalLayout
from rlkit.utils import counting


class SarsaLambda(ConfiguredAgent):
    """True online Sarsa(λ) over tile coding, learning from every step as it acts:
    `EnvironmentLoop(env, SarsaLambda(spec)).run(num_steps=...)` (defaults: the book's
    Mountain Car setting, see `SarsaLambdaConfig`).

    `LocalLayout` over `TraceBuilder`; `make_evaluation_actor()` acts greedily on the
    current weights (`learner.state.weights`). Learner steps run inline, one per
    environment step.
    """

    family_config = config_lib.SarsaLambdaConfig
    config_class = config_lib.SarsaLambdaConfig
    builder_class = TraceBuilder
    make_networks = staticmethod(make_networks)


class TDLambda(LocalLayout):
    """TD(λ) prediction: acts with the fixed `policy` (a pure JAX function `(observation,
    key) -> action`, or an `ActorCore`) and learns its state values online with an
    eligibility trace over tile coding (true online TD(λ) by default, see `TDLambdaConfig`).

        agent = TDLambda(spec, policy, TDLambdaConfig(lambda_=0.9))
        rlkit.EnvironmentLoop(env, agent).run(num_episodes=100)
        values = agent.networks.state_values(agent.get_variables(["policy"])[0], observations)
    """

    def __init__(
        self,
        environment_spec: specs.EnvironmentSpec,
        policy: acting.FixedPolicy | actors.ActorCore,
        config: config_lib.TDLambdaConfig | None = None,
        seed: int = 0,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        **layout_kwargs: Any,
    ):
        self.config = config if config is not None else config_lib.TDLambdaConfig()
        super().__init__(
            TraceBuilder(self.config, policy),
            environment_spec,
            make_networks(environment_spec, self.config),
            seed=seed,
            counter=counter,
            logger=logger,
            **layout_kwargs,
        )
