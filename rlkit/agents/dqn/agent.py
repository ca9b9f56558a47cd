"""`DQN`: a ready-to-run single-process DQN agent (replay tables in this process)."""

from __future__ import annotations

from rlkit import local_layout, loggers, specs
from rlkit.agents.dqn import networks as dqn_networks
from rlkit.agents.dqn.builder import DQNBuilder
from rlkit.agents.dqn.config import DQNConfig
from rlkit.utils import counting


class DQN(local_layout.LocalLayout):
    """DQN that learns while it acts: `EnvironmentLoop(env, DQN(spec)).run(num_steps=...)`.

    `LocalLayout` over `DQNBuilder`: the replay table lives in this process (the `local`
    backend by default; `replay_backend="reverb"` serves it from a Reverb server).
    `make_evaluation_actor()` returns a greedy actor that shares the learner's parameters and
    writes nothing to replay.

    By default learner steps run on a background thread while the actor acts on the
    parameters from before them (see `rlkit.Agent`); `learn_in_background=False` runs them
    inline.
    """

    def __init__(
        self,
        environment_spec: specs.EnvironmentSpec,
        config: DQNConfig | None = None,
        seed: int = 0,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        learn_in_background: bool = True,
        **layout_kwargs,
    ):
        config = config if config is not None else DQNConfig()
        if not isinstance(config, DQNConfig):
            raise TypeError(f"config must be a DQNConfig, got {type(config).__name__}.")
        self.config = config
        super().__init__(
            DQNBuilder(config, block_inserts=False),
            environment_spec,
            dqn_networks.make_networks(environment_spec, config),
            seed=seed,
            counter=counter,
            logger=logger,
            learn_in_background=learn_in_background,
            **layout_kwargs,
        )
