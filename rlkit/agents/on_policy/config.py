"""Configurations of the on-policy agents (PPO, A2C, REINFORCE, TRPO, IMPALA, ACER) over
batched environments.

`OnPolicyConfig` holds what they share: `num_envs` sub-environments each contribute a rollout
of `rollout_length` steps per learner step (the rollouts go through a replay queue), GAE,
the networks, the optimiser and the loss weights; each agent's config adds its own. Configs
are plain data: `OnPolicyBuilder`'s `VARIANTS` table says which loss, optimiser and
advantage estimator each config class gets. Defaults follow Stable-Baselines3. Importing
this module does not import JAX.
"""

from __future__ import annotations

import dataclasses

from rlkit import configs

ACTIVATIONS = ("tanh", "relu")


# How PPO clips its value loss: SB3's clipped prediction, or PPO2's larger of two errors.
VALUE_CLIP_FORMS = ("sb3", "ppo2")


@dataclasses.dataclass
class OnPolicyConfig:
    """Hyperparameters every on-policy agent here shares.

    A learner step takes one rollout of `rollout_length` steps from each of the `num_envs`
    sub-environments (SB3's `n_steps` per environment), computes GAE(`gae_lambda`)
    advantages with the current value function, and runs `num_epochs` passes over the
    `num_envs * rollout_length` steps in minibatches of `minibatch_size` (0: all of them),
    all in one jitted call. Rollouts run across episode boundaries; a truncated episode
    bootstraps from its final observation. With `anneal_env_steps` > 0, the learning rate
    (and PPO's clip range, when asked) fall linearly to 0 over that many environment steps,
    as SB3's `lin_` schedules over a run of that length.

    `normalize_observations` feeds the networks observations normalised by running
    statistics and clipped to +-`observation_clip`; `normalize_rewards` divides rewards by
    the running standard deviation of the discounted return and clips them to
    +-`reward_clip` (Stable-Baselines3's VecNormalize, which RL-Zoo turns on for MuJoCo).
    Both statistics are updated from each batch of rollouts after it is learned from, are
    saved in checkpoints, and the observation statistics go with the policy to actors and
    into the exported policy.
    """

    num_envs: int = 1
    rollout_length: int = 2048
    minibatch_size: int = 64
    num_epochs: int = 10
    discount: float = 0.99
    gae_lambda: float = 0.95
    learning_rate: float = 3e-4
    anneal_env_steps: int = 0
    max_gradient_norm: float = 0.5  # 0: no clipping.
    value_coefficient: float = 0.5
    entropy_coefficient: float = 0.0
    normalize_advantages: bool = True
    # Separate policy and value MLPs, as SB3's MlpPolicy: `activation` "tanh" or "relu";
    # `orthogonal_init` as SB3's `ortho_init` (else torch's default initialisation).
    policy_hidden_sizes: tuple[int, ...] = (64, 64)
    value_hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    orthogonal_init: bool = True
    # A Gaussian policy's log standard deviation starts here (a learned, state-independent
    # parameter per action dimension; SB3's `log_std_init`).
    initial_log_std: float = 0.0
    normalize_observations: bool = False
    normalize_rewards: bool = False
    observation_clip: float = 10.0
    reward_clip: float = 10.0
    replay_table_name: str = "rollouts"

    def __post_init__(self):
        if self.minibatch_size == 0:  # The whole batch: one gradient step per epoch.
            self.minibatch_size = self.num_envs * self.rollout_length
        self.policy_hidden_sizes = tuple(self.policy_hidden_sizes)
        self.value_hidden_sizes = tuple(self.value_hidden_sizes)
        configs.check_types(self)
        configs.check_positive(
            self,
            (
                "num_envs",
                "rollout_length",
                "minibatch_size",
                "num_epochs",
                "learning_rate",
                "observation_clip",
                "reward_clip",
            ),
        )
        configs.check_unit_interval(self, ("discount", "gae_lambda"))
        configs.require(
            self.activation in ACTIVATIONS,
            self,
            f"activation must be one of {ACTIVATIONS}, got {self.activation!r}.",
        )
        for name in ("anneal_env_steps", "max_gradient_norm", "value_coefficient"):
            configs.require(getattr(self, name) >= 0, self, f"{name} must be >= 0.")
        configs.require(self.entropy_coefficient >= 0, self, "entropy_coefficient must be >= 0.")
        for name in ("policy_hidden_sizes", "value_hidden_sizes"):
            sizes = getattr(self, name)
            configs.require(
                all(size > 0 for size in sizes), self, f"{name} must be positive: {sizes}"
            )
        steps = self.num_envs * self.rollout_length
        configs.require(
            steps % self.minibatch_size == 0,
            self,
            f"num_envs * rollout_length ({self.num_envs} * {self.rollout_length} = {steps}) "
            f"must be a multiple of minibatch_size ({self.minibatch_size}): each epoch splits "
            "the rollouts into whole minibatches. Change rollout_length or minibatch_size.",
        )

    @property
    def steps_per_learner_step(self) -> int:
        """Rollout steps one learner step learns from (all sub-environments')."""
        return self.num_envs * self.rollout_length

    @property
    def num_minibatches(self) -> int:
        return self.steps_per_learner_step // self.minibatch_size


@dataclasses.dataclass
class PPOConfig(OnPolicyConfig):
    """PPO (Schulman et al. 2017): the clipped surrogate objective, `num_epochs` passes of
    minibatch SGD per rollout, an entropy bonus, and optionally a clipped value loss
    (`value_clip_epsilon` > 0, SB3's `clip_range_vf`; `value_clip_form` "ppo2" for the
    pessimistic form of Baselines' PPO2, CleanRL and PureJaxRL) and a clip range annealed with
    the learning rate (`anneal_clip_epsilon`). Defaults are SB3's PPO."""

    clip_epsilon: float = 0.2
    value_clip_epsilon: float = 0.0  # 0: the value loss is not clipped.
    value_clip_form: str = "sb3"  # "sb3" or "ppo2" (see `learning._value_loss`).
    anneal_clip_epsilon: bool = False

    def __post_init__(self):
        super().__post_init__()
        configs.check_positive(self, ("clip_epsilon",))
        configs.require(self.value_clip_epsilon >= 0, self, "value_clip_epsilon must be >= 0.")
        configs.require(
            self.value_clip_form in VALUE_CLIP_FORMS,
            self,
            f"value_clip_form must be one of {VALUE_CLIP_FORMS}, got {self.value_clip_form!r}.",
        )
        configs.require(
            not self.anneal_clip_epsilon or self.anneal_env_steps > 0,
            self,
            "anneal_clip_epsilon needs anneal_env_steps > 0 (the run length it anneals over).",
        )


@dataclasses.dataclass
class A2CConfig(OnPolicyConfig):
    """A2C (Mnih et al. 2016, synchronous): one gradient step per batch of rollouts on the
    policy gradient `-log pi(a|s) * A` with GAE advantages, the value regression and an
    entropy bonus; RMSprop. Defaults are SB3's A2C (5-step rollouts, lambda 1, no advantage
    normalisation); `minibatch_size` is the whole batch (`num_envs * rollout_length`)."""

    rollout_length: int = 5
    num_epochs: int = 1
    gae_lambda: float = 1.0
    learning_rate: float = 7e-4
    normalize_advantages: bool = False
    minibatch_size: int = 0  # 0: the whole batch of rollouts, A2C's one gradient step.


@dataclasses.dataclass
class REINFORCEConfig(OnPolicyConfig):
    """REINFORCE with a learned baseline (Williams 1992): each learner step takes `num_envs`
    whole episodes (one item per episode, from whichever sub-environments finish them) and
    takes one gradient step on `-mean((G_t - V(s_t)) * log pi(a_t|s_t))` plus the baseline's
    regression on the returns G_t (lambda 1: Monte-Carlo returns). A truncated episode
    bootstraps from its final observation's value (the time limit is not part of the task,
    as gymnasium's `truncated` says); a terminated one does not.

    Episodes of up to `max_episode_steps` steps are padded to that length; a longer one
    stops the run with an error naming the fix. Episodes still running when the parameters
    change finish on the new ones.
    """

    num_envs: int = 8
    max_episode_steps: int = 1000
    rollout_length: int = 0  # Set from max_episode_steps.
    num_epochs: int = 1
    minibatch_size: int = 0  # 0: all the episodes, one gradient step.
    gae_lambda: float = 1.0
    learning_rate: float = 1e-3
    normalize_advantages: bool = False

    def __post_init__(self):
        configs.check_positive(self, ("max_episode_steps",))
        configs.require(
            self.rollout_length in (0, self.max_episode_steps + 1),
            self,
            "rollout_length follows from max_episode_steps (episodes are padded to it); "
            "set max_episode_steps instead.",
        )
        # Taken steps, the final observation's step, and one step of padding that marks the
        # episode's end (see `replay.EpisodeAdder`).
        self.rollout_length = self.max_episode_steps + 1
        super().__post_init__()


@dataclasses.dataclass
class TRPOConfig(OnPolicyConfig):
    """TRPO (Schulman et al. 2015) as Stable-Baselines3-contrib's: per batch of rollouts one
    natural-gradient policy step, by `cg_max_steps` conjugate-gradient iterations on
    Fisher-vector products (damping `cg_damping`), scaled to the KL radius `target_kl` and
    shrunk by `line_search_shrink` until the mean KL is below `target_kl` and the surrogate
    improves (at most `line_search_steps` tries); then `num_epochs` epochs of the critic's
    regression in minibatches of `minibatch_size` with Adam at `learning_rate`. Defaults are
    SB3-contrib's."""

    minibatch_size: int = 128
    learning_rate: float = 1e-3
    target_kl: float = 0.01
    cg_max_steps: int = 15
    cg_damping: float = 0.1
    line_search_shrink: float = 0.8
    line_search_steps: int = 10
    max_gradient_norm: float = 0.0
    value_coefficient: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        configs.check_positive(
            self, ("target_kl", "cg_max_steps", "cg_damping", "line_search_steps")
        )
        configs.require(
            0 < self.line_search_shrink < 1, self, "line_search_shrink must be in (0, 1)."
        )


@dataclasses.dataclass
class IMPALAConfig(OnPolicyConfig):
    """IMPALA (Espeholt et al. 2018): actors act on parameters that lag the learner's, and
    the learner corrects with V-trace (`rlax`): truncated importance weights
    `min(clip_rho_threshold, pi/mu)` for the value targets and
    `min(clip_pg_rho_threshold, pi/mu)` for the policy gradient, one RMSprop step per batch
    of rollouts. In one process the actor fetches parameters every `actor_update_period`
    learner steps, so it acts up to that many updates behind; distributed actors lag by
    however far they are. `gae_lambda` is V-trace's lambda."""

    rollout_length: int = 20
    num_epochs: int = 1
    minibatch_size: int = 0  # 0: the whole batch of rollouts.
    gae_lambda: float = 1.0
    learning_rate: float = 6e-4
    entropy_coefficient: float = 0.01
    max_gradient_norm: float = 40.0
    normalize_advantages: bool = False
    clip_rho_threshold: float = 1.0
    clip_pg_rho_threshold: float = 1.0
    actor_update_period: int = 4

    def __post_init__(self):
        super().__post_init__()
        configs.check_positive(
            self, ("clip_rho_threshold", "clip_pg_rho_threshold", "actor_update_period")
        )


@dataclasses.dataclass
class ACERConfig(OnPolicyConfig):
    """ACER (Wang et al. 2017), discrete actions, as OpenAI Baselines' `acer.learn`.

    Each learner step takes one ACER update on the fresh rollouts, then, once
    `replay_start_steps` environment steps have been collected, a Poisson(`replay_ratio`)
    number of updates on as many sequences sampled uniformly from a replay table of the
    last `replay_buffer_steps` steps' rollouts (the same items the queue got, each with the
    full probability vector of the policy that acted). An update regresses the Q-critic on
    Retrace targets (`value_coefficient` weighs it), follows the policy gradient with
    importance weights truncated at `truncation` plus the bias correction, and projects it
    per step onto the linearised KL constraint `trust_region_delta` against an average
    policy network (an exponential moving average of the parameters, decay
    `average_decay`). RMSprop after clipping to `max_gradient_norm`.

    ACER takes one gradient step per batch of sequences: `num_epochs` is 1 and
    `minibatch_size` the whole batch; `gae_lambda` and `normalize_advantages` do not apply.
    Observation and reward normalisation are not supported (replayed sequences would be
    seen under statistics they were not collected with).
    """

    num_envs: int = 4
    rollout_length: int = 20
    num_epochs: int = 1
    minibatch_size: int = 0  # 0: the whole batch of sequences.
    gae_lambda: float = 1.0
    learning_rate: float = 7e-4
    max_gradient_norm: float = 10.0
    entropy_coefficient: float = 0.01
    normalize_advantages: bool = False
    replay_ratio: float = 4.0  # Replayed updates per on-policy one, on average (Poisson).
    replay_buffer_steps: int = 50_000
    replay_start_steps: int = 1_000
    truncation: float = 10.0  # c: importance weights min(c, pi/mu) in the policy gradient.
    trust_region_delta: float = 1.0  # 0: no trust region (the plain ACER gradient).
    average_decay: float = 0.99
    replay_buffer_table_name: str = "replayed_rollouts"

    def __post_init__(self):
        super().__post_init__()
        configs.check_positive(self, ("replay_buffer_steps", "truncation"))
        for name in ("replay_ratio", "replay_start_steps", "trust_region_delta"):
            configs.require(getattr(self, name) >= 0, self, f"{name} must be >= 0.")
        configs.require(0 <= self.average_decay < 1, self, "average_decay must be in [0, 1).")
        configs.require(
            self.num_epochs == 1 and self.num_minibatches == 1,
            self,
            "ACER takes one gradient step per batch of sequences: set num_epochs to 1 and "
            "minibatch_size to 0 (the whole batch).",
        )
        configs.require(
            not (self.normalize_observations or self.normalize_rewards),
            self,
            "ACER does not normalise observations or rewards: its replayed sequences were "
            "collected under other statistics. Set normalize_observations and "
            "normalize_rewards to false.",
        )
        configs.require(
            self.replay_buffer_steps >= self.steps_per_learner_step,
            self,
            "replay_buffer_steps must hold at least one batch of rollouts "
            f"(num_envs * rollout_length = {self.steps_per_learner_step}).",
        )
        configs.require(
            self.replay_buffer_table_name != self.replay_table_name,
            self,
            "replay_buffer_table_name must differ from replay_table_name.",
        )

    @property
    def replay_buffer_items(self) -> int:
        """Sequences the replay table keeps: each adds `rollout_length` new steps."""
        return max(self.replay_buffer_steps // self.rollout_length, self.num_envs)


@dataclasses.dataclass
class A3CConfig(A2CConfig):
    """A3C (Mnih et al. 2016, asynchronous advantage actor-critic): `num_workers` workers
    each act in environments of their own and compute A2C's gradient (the policy gradient
    with n-step advantages, the value regression, the entropy bonus) on their own
    `rollout_length`-step rollouts, and send it to a parameter server that applies each
    with RMSprop (statistics shared by all workers) as it arrives, without waiting for the
    others; a worker then acts with the parameters the server sends back. In one process
    the workers are threads; on Ray (`--distributed --num-actors N`) each actor is one.
    Defaults are the paper's (5-step rollouts, one environment per worker, entropy 0.01)
    with A2C's optimiser settings. Observation and reward normalisation are not supported
    (each worker would normalise by statistics of its own)."""

    num_workers: int = 4
    num_envs: int = 1
    entropy_coefficient: float = 0.01

    def __post_init__(self):
        super().__post_init__()
        configs.check_positive(self, ("num_workers",))
        configs.require(
            not (self.normalize_observations or self.normalize_rewards),
            self,
            "A3C does not normalise observations or rewards (each worker would use statistics "
            "of its own): set normalize_observations and normalize_rewards to false.",
        )
