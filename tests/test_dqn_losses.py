"""The DQN family's losses against values computed by hand, and the shared SGD learner."""

import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rlkit import types
from rlkit.agents import dqn
from rlkit.agents.dqn import learning, losses, networks

# A linear "Q-network" whose Q-values can be computed by hand: Q(s) = s @ W.
LINEAR = networks.ValueNetworks(
    init=lambda key: jnp.eye(2),
    apply=lambda params, observation, key=None: networks.ValueOutput(observation @ params),
)


def lookup_network(atoms=None, taus=None):
    """Outputs looked up per state: observations are state indices into the params' tables."""

    def apply(params, observation, key=None, **options):
        if "logits" in params:
            logits = params["logits"][observation]
            q_values = jnp.sum(jax.nn.softmax(logits) * atoms, axis=-1)
            return networks.ValueOutput(q_values, logits=logits, atoms=atoms)
        if "quantiles" in params:
            quantiles = params["quantiles"][observation]
            batch_taus = jnp.broadcast_to(taus, (observation.shape[0], taus.shape[0]))
            return networks.ValueOutput(
                jnp.mean(quantiles, 1), quantiles=quantiles, taus=batch_taus
            )
        return networks.ValueOutput(params["q"][observation])

    return networks.ValueNetworks(init=None, apply=apply)


def batch_of(transitions, weights=None):
    size = transitions.reward.shape[0]
    weights = jnp.ones(size) if weights is None else jnp.asarray(weights)
    return learning.LearnerBatch(transitions, weights)


def hand_batch():
    return types.Transition(
        observation=jnp.array([[1.0, 1.0], [0.0, 1.0]]),
        action=jnp.array([0, 1]),
        reward=jnp.array([1.0, -1.0]),
        discount=jnp.array([0.9, 0.0]),
        next_observation=jnp.array([[1.0, 2.0], [3.0, 0.0]]),
    )


def index_batch(action=0, reward=1.0, discount=0.5):
    """One transition from state 0 to state 1."""
    return types.Transition(
        observation=jnp.array([0]),
        action=jnp.array([action]),
        reward=jnp.array([reward]),
        discount=jnp.array([discount]),
        next_observation=jnp.array([1]),
    )


KEY = jax.random.PRNGKey(0)
ONLINE = jnp.array([[1.0, 0.0], [0.0, 2.0]])
TARGET = jnp.array([[3.0, 0.0], [0.0, 1.0]])


class QLearningLossTest(chex.TestCase):
    """chex variants need a TestCase to be collected."""

    @chex.variants(with_jit=True, without_jit=True)
    def test_double_q(self):
        loss_fn = self.variant(losses.q_learning_loss(1.0, double_q=True), static_argnums=0)
        # Transition 1: Q(s) = [1, 2], Q(s', online) = [1, 4] selects action 1, whose target
        # value is Q(s', target)[1] = 2: TD = 1 + 0.9 * 2 - Q(s)[0] = 1.8, Huber(1.8) = 1.3.
        # Transition 2: terminal, TD = -1 - Q(s)[1] = -3, Huber(-3) = 2.5.
        loss, extra = loss_fn(LINEAR, ONLINE, TARGET, batch_of(hand_batch()), KEY)
        np.testing.assert_allclose(extra.priorities, [1.8, 3.0], rtol=1e-6)
        np.testing.assert_allclose(loss, (1.3 + 2.5) / 2, rtol=1e-6)
        # Importance weights scale each transition's loss.
        loss, _ = loss_fn(LINEAR, ONLINE, TARGET, batch_of(hand_batch(), [1.0, 0.5]), KEY)
        np.testing.assert_allclose(loss, (1.3 + 0.5 * 2.5) / 2, rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_plain_q_learning_takes_the_target_max(self):
        loss_fn = self.variant(losses.q_learning_loss(1.0, double_q=False), static_argnums=0)
        # Transition 1: max Q(s', target) = max(3, 2) = 3: TD = 1 + 0.9 * 3 - 1 = 2.7,
        # Huber = 2.7 - 0.5 = 2.2; transition 2 as above.
        loss, extra = loss_fn(LINEAR, ONLINE, TARGET, batch_of(hand_batch()), KEY)
        np.testing.assert_allclose(extra.priorities, [2.7, 3.0], rtol=1e-6)
        np.testing.assert_allclose(loss, (2.2 + 2.5) / 2, rtol=1e-6)


def test_categorical_loss_projects_and_takes_the_cross_entropy():
    atoms = jnp.array([0.0, 1.0, 2.0])
    log = lambda p: jnp.log(jnp.array(p))  # noqa: E731
    online = {
        "logits": jnp.stack(
            [
                jnp.stack([log([0.2, 0.3, 0.5]), log([1 / 3] * 3)]),  # State 0.
                # State 1: the online network prefers action 1 (mean 1.7 vs 0.3).
                jnp.stack([log([0.8, 0.1, 0.1]), log([0.1, 0.1, 0.8])]),
            ]
        )
    }
    target = {
        "logits": jnp.stack(
            [
                jnp.zeros((2, 3)),
                # The target network itself would prefer action 0 (mean 1.97 vs 0.75).
                jnp.stack([log([0.01, 0.01, 0.98]), log([0.5, 0.25, 0.25])]),
            ]
        )
    }
    network = lookup_network(atoms=atoms)
    # Double Q: next action 1, target distribution [0.5, 0.25, 0.25] on atoms shifted to
    # 1 + 0.5 * [0, 1, 2] = [1, 1.5, 2]; projected onto [0, 1, 2]: [0, 0.5 + 0.125,
    # 0.125 + 0.25] = [0, 0.625, 0.375]. Cross-entropy with the online [0.2, 0.3, 0.5]:
    expected = -(0.625 * np.log(0.3) + 0.375 * np.log(0.5))
    loss_fn = jax.jit(losses.categorical_loss(double_q=True), static_argnums=0)
    loss, extra = loss_fn(network, online, target, batch_of(index_batch()), KEY)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(extra.priorities, [expected], rtol=1e-5)
    # Without double Q the target's own choice, action 0: [0.01, 0.01, 0.98] on [1, 1.5, 2]
    # projects to [0, 0.01 + 0.005, 0.005 + 0.98].
    single = -(0.015 * np.log(0.3) + 0.985 * np.log(0.5))
    loss, _ = losses.categorical_loss(double_q=False)(
        network, online, target, batch_of(index_batch()), KEY
    )
    np.testing.assert_allclose(loss, single, rtol=1e-5)


def test_quantile_loss_matches_the_quantile_huber_loss():
    taus = jnp.array([0.25, 0.75])
    # quantiles[state, quantile, action]. State 0, action 0: [0, 2]; state 1: the target's
    # greedy action is 1 (mean 2 vs 0.5) with quantiles [1, 3].
    quantiles = jnp.array([[[0.0, 9.0], [2.0, 9.0]], [[0.0, 1.0], [1.0, 3.0]]])
    network = lookup_network(taus=taus)
    params = {"quantiles": quantiles}
    # Targets r + discount * [1, 3] = [1, 3] (r = 0, discount = 1). Per source quantile i,
    # the mean over targets j of |tau_i - 1[u < 0]| Huber(u), u = target_j - theta_i:
    # theta = 0, tau = 0.25: u = 1, 3 -> 0.25 * (0.5 + 2.5) / 2 = 0.375;
    # theta = 2, tau = 0.75: u = -1, 1 -> (0.25 * 0.5 + 0.75 * 0.5) / 2 = 0.25. Sum: 0.625.
    loss_fn = jax.jit(losses.quantile_loss(huber_delta=1.0), static_argnums=0)
    loss, extra = loss_fn(network, params, params, batch_of(index_batch(0, 0.0, 1.0)), KEY)
    np.testing.assert_allclose(loss, 0.625, rtol=1e-6)
    np.testing.assert_allclose(extra.priorities, [0.625], rtol=1e-6)


def test_munchausen_loss_matches_the_paper_formula():
    # tau = 1. Target Q(s) = [0, ln 3]: log pi(s) = [-ln 4, ln 3 - ln 4]; the taken action 0
    # scores tau * log pi = -1.386, clipped to -1: bonus 0.9 * -1 = -0.9. Target Q(s') = [0, 0]:
    # pi = [0.5, 0.5], soft value sum pi (q - log pi) = ln 2. y = 1 - 0.9 + 0.5 ln 2.
    target = {"q": jnp.array([[0.0, np.log(3.0)], [0.0, 0.0]])}
    online = {"q": jnp.array([[0.1, 0.0], [0.0, 0.0]])}
    td = 1.0 - 0.9 + 0.5 * np.log(2.0) - 0.1
    loss_fn = losses.munchausen_loss(1.0, 0.9, -1.0, huber_delta=1.0)
    loss, extra = jax.jit(loss_fn, static_argnums=0)(
        lookup_network(), online, target, batch_of(index_batch()), KEY
    )
    np.testing.assert_allclose(extra.priorities, [td], rtol=1e-5)
    np.testing.assert_allclose(loss, 0.5 * td**2, rtol=1e-5)
    np.testing.assert_allclose(extra.metrics["munchausen_bonus"], -0.9, rtol=1e-6)


def test_importance_weights():
    probabilities = jnp.array([0.1, 0.2, 0.4])
    np.testing.assert_allclose(
        learning.importance_weights(probabilities, 1.0), [1.0, 0.5, 0.25], rtol=1e-6
    )
    np.testing.assert_allclose(
        learning.importance_weights(probabilities, 0.5), np.sqrt([1.0, 0.5, 0.25]), rtol=1e-6
    )


def make_state(params, optimizer):
    return learning.TrainingState(
        params, params, optimizer.init(params), jax.random.PRNGKey(0), jnp.zeros((), jnp.int32)
    )


def test_update_runs_several_sgd_steps_and_syncs_the_target():
    optimizer = optax.sgd(0.1)
    transitions = jax.tree_util.tree_map(lambda x: jnp.concatenate([x, x]), hand_batch())
    for period, synced in ((2, True), (4, False)):
        update = jax.jit(
            learning.make_update(losses.q_learning_loss(), LINEAR, optimizer, 2, period)
        )
        state, metrics, priorities = update(
            make_state(jnp.eye(2), optimizer), transitions, jnp.ones(4)
        )
        assert int(state.steps) == 2  # 4 transitions in batches of 2.
        chex.assert_shape(metrics["loss"], ())
        chex.assert_shape(priorities, (4,))
        assert not np.allclose(state.params, jnp.eye(2))
        assert np.allclose(state.target_params, state.params) == synced
        assert not np.array_equal(state.key, jax.random.PRNGKey(0))


@pytest.mark.parametrize("period, rate, updates", [(1, 0.25, 4), (2, 0.25, 2), (4, 0.5, 1)])
def test_target_moves_by_the_update_rate_every_period(period, rate, updates):
    # A zero step keeps the online params at I: after k target updates at rate r the target
    # is I + (1 - r)^k (T0 - I).
    optimizer = optax.sgd(0.0)
    transitions = jax.tree_util.tree_map(lambda x: jnp.concatenate([x] * 4), hand_batch())
    online, target = jnp.eye(2), jnp.array([[3.0, -1.0], [2.0, 5.0]])
    update = jax.jit(
        learning.make_update(
            losses.q_learning_loss(), LINEAR, optimizer, 2, period, target_update_rate=rate
        )
    )
    state = make_state(online, optimizer)._replace(target_params=target)
    state, _, _ = update(state, transitions, jnp.ones(8))
    assert int(state.steps) == 4
    expected = online + (1 - rate) ** updates * (target - online)
    np.testing.assert_allclose(state.target_params, expected, rtol=1e-6)
    np.testing.assert_array_equal(state.params, online)


@pytest.mark.parametrize(
    "period, rate, hoisted",
    [(2, 1.0, True), (4, 1.0, True), (3, 1.0, False), (2, 0.5, False)],
)
def test_target_pass_for_the_whole_learner_step_changes_no_update(period, rate, hoisted):
    # The learner evaluates the target once per call (2 SGD steps here) only when no target
    # update falls inside the call; either way the updates are the same as the loss's own.
    seen = []
    q_loss = losses.q_learning_loss()

    def spying_loss(networks, params, target_params, batch, key):
        seen.append(batch.target_next is not None)  # At trace time.
        return q_loss(networks, params, target_params, batch, key)

    optimizer = optax.sgd(0.1)
    transitions = jax.tree_util.tree_map(lambda x: jnp.concatenate([x, x]), hand_batch())
    states = []
    for options in (None, {}):
        seen.clear()
        update = jax.jit(
            learning.make_update(
                spying_loss,
                LINEAR,
                optimizer,
                2,
                period,
                target_update_rate=rate,
                target_options=options,
            )
        )
        state = make_state(jnp.eye(2), optimizer)._replace(target_params=2 * jnp.eye(2))
        for _ in range(3):  # 6 SGD steps: syncs at steps 3 and 6 for period 3.
            state, _, _ = update(state, transitions, jnp.ones(4))
        assert seen == [options is not None and hoisted]
        states.append(state)
    chex.assert_trees_all_equal(states[0], states[1])


def test_gradient_step_lowers_the_loss():
    optimizer = optax.sgd(0.05)
    loss_fn = losses.q_learning_loss()
    update = jax.jit(learning.make_update(loss_fn, LINEAR, optimizer, 2, 1000))
    state = make_state(jnp.eye(2), optimizer)
    before, _ = loss_fn(LINEAR, state.params, state.target_params, batch_of(hand_batch()), KEY)
    state, _, _ = update(state, hand_batch(), jnp.ones(2))
    after, _ = loss_fn(LINEAR, state.params, state.target_params, batch_of(hand_batch()), KEY)
    assert after < before


def recording_loss(networks_, params, target_params, batch, key):
    """A loss that reports each transition's id (its reward) as its priority."""
    del networks_, target_params, key
    loss = params * jnp.sum(batch.weights)
    return loss, learning.LossExtra(
        {"weight_sum": jnp.sum(batch.weights)}, batch.transitions.reward
    )


@pytest.mark.parametrize("per_item", [1, 4])
def test_each_transition_is_used_once_and_priorities_return_per_item(per_item):
    num_items, batch_size = 16, 8
    num = num_items * per_item
    ids = jnp.arange(num, dtype=jnp.float32)
    transitions = types.Transition(
        observation=jnp.zeros((num, 1)),
        action=jnp.zeros(num, jnp.int32),
        reward=ids,
        discount=jnp.ones(num),
        next_observation=jnp.zeros((num, 1)),
    )
    optimizer = optax.sgd(0.0)
    update = jax.jit(learning.make_update(recording_loss, None, optimizer, batch_size, 100))
    state, metrics, priorities = update(
        make_state(jnp.zeros(()), optimizer), transitions, jnp.full(num_items, 0.5)
    )
    assert int(state.steps) == num // batch_size
    # Every id came back exactly once, at its own position: the scatter back to sampling
    # order would leave a zero (or a duplicate) for a transition used twice or never.
    per_transition_max = np.asarray(ids).reshape(num_items, per_item).max(axis=1)
    np.testing.assert_array_equal(priorities, per_transition_max)
    np.testing.assert_allclose(metrics["weight_sum"], batch_size)  # Uniform: all ones.


def test_prioritized_update_weights_by_probability():
    num, batch_size = 8, 8
    transitions = types.Transition(
        observation=jnp.zeros((num, 1)),
        action=jnp.zeros(num, jnp.int32),
        reward=jnp.arange(num, dtype=jnp.float32),
        discount=jnp.ones(num),
        next_observation=jnp.zeros((num, 1)),
    )
    probabilities = jnp.array([0.1, 0.2, 0.4, 0.1, 0.05, 0.05, 0.05, 0.05])
    optimizer = optax.sgd(0.0)
    beta = optax.constant_schedule(1.0)
    update = jax.jit(learning.make_update(recording_loss, None, optimizer, batch_size, 100, beta))
    _, metrics, _ = update(make_state(jnp.zeros(()), optimizer), transitions, probabilities)
    expected = np.sum((1 / np.asarray(probabilities)) / (1 / 0.05))
    np.testing.assert_allclose(metrics["weight_sum"], expected, rtol=1e-5)


def test_noisy_linear_is_its_mean_without_a_key_and_noisy_with_one():
    def forward(x):
        return networks.NoisyLinear(3)(x)

    transformed = hk.transform(forward)
    x = jnp.ones((2, 4))
    params = transformed.init(jax.random.PRNGKey(0), x)
    assert set(params["noisy_linear"]) == {"w_mu", "b_mu", "w_sigma", "b_sigma"}
    mean = transformed.apply(params, None, x)
    p = params["noisy_linear"]
    np.testing.assert_allclose(mean, x @ p["w_mu"] + p["b_mu"], rtol=1e-6)
    first = transformed.apply(params, jax.random.PRNGKey(1), x)
    second = transformed.apply(params, jax.random.PRNGKey(2), x)
    assert not np.allclose(first, mean) and not np.allclose(first, second)
    np.testing.assert_allclose(first[0], first[1], rtol=1e-6)  # One draw per batch.
    # The noise scales are learnt: they get gradients through a noisy forward pass.
    grads = jax.grad(lambda q: jnp.sum(transformed.apply(q, jax.random.PRNGKey(1), x) ** 2))(params)
    assert np.any(np.asarray(grads["noisy_linear"]["w_sigma"]) != 0)
    # Factorised noise: with sigma_w = 1 and sigma_b = 0, the weight noise seen through the
    # identity inputs is the outer product f(eps_in) f(eps_out)^T, a rank-one matrix.
    ones = {**p, "w_sigma": jnp.ones_like(p["w_sigma"]), "b_sigma": jnp.zeros_like(p["b_sigma"])}
    eye = jnp.eye(4)
    noise = transformed.apply({"noisy_linear": ones}, jax.random.PRNGKey(3), eye) - (
        transformed.apply({"noisy_linear": ones}, None, eye)
    )
    assert np.linalg.matrix_rank(np.asarray(noise), tol=1e-5) == 1


@pytest.mark.parametrize(
    "config",
    [
        dqn.DQNConfig(hidden_sizes=(8,), dueling=True),
        dqn.C51Config(hidden_sizes=(8,), num_atoms=5),
        dqn.QRDQNConfig(hidden_sizes=(8,), num_quantiles=6),
        dqn.IQNConfig(hidden_sizes=(8, 8), num_quantile_samples=7),
        dqn.RainbowConfig(hidden_sizes=(8,), num_atoms=5),
    ],
    ids=lambda config: type(config).__name__,
)
def test_every_head_gives_q_values_and_is_deterministic_without_a_key(config):
    import rlkit

    spec = rlkit.make_environment_spec(rlkit.make_environment("CartPole-v1"))
    net = dqn.make_networks(spec, config)
    params = net.init(jax.random.PRNGKey(0))
    observation = jnp.ones((3, 4))
    output = net.apply(params, observation)
    chex.assert_shape(output.q_values, (3, 2))
    np.testing.assert_array_equal(net.q_values(params, observation), output.q_values)
    if isinstance(config, dqn.C51Config):
        chex.assert_shape(output.logits, (3, 2, 5))
        np.testing.assert_allclose(
            output.q_values, jnp.sum(jax.nn.softmax(output.logits) * output.atoms, -1), rtol=1e-5
        )
    if isinstance(config, dqn.QRDQNConfig | dqn.IQNConfig):
        count = 6 if isinstance(config, dqn.QRDQNConfig) else 7
        chex.assert_shape(output.quantiles, (3, count, 2))
        np.testing.assert_allclose(output.q_values, output.quantiles.mean(1), rtol=1e-5)
    sampled = net.apply(params, observation, jax.random.PRNGKey(1))
    assert net.stochastic == (not np.allclose(sampled.q_values, output.q_values))


def test_dueling_streams_have_their_own_last_hidden_layer():
    # Wang et al. 2016: shared lower layers, then a value and an advantage stream, each
    # with its own hidden layer, combined as V + A - mean A.
    import rlkit

    spec = rlkit.make_environment_spec(rlkit.make_environment("CartPole-v1"))
    net = dqn.make_networks(spec, dqn.DQNConfig(hidden_sizes=(8, 6), dueling=True))
    params = net.init(jax.random.PRNGKey(0))
    layers = {name.split("/")[-1]: p for name, p in params.items()}
    assert sorted(layers) == [
        "advantages",
        "advantages_hidden_1",
        "hidden_0",
        "value",
        "value_hidden_1",
    ]
    chex.assert_shape(layers["value_hidden_1"]["w"], (8, 6))
    chex.assert_shape(layers["advantages"]["w"], (6, 2))
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 4))

    def dense(name, inputs):
        return inputs @ layers[name]["w"] + layers[name]["b"]

    shared = jax.nn.relu(dense("hidden_0", x))
    value = dense("value", jax.nn.relu(dense("value_hidden_1", shared)))
    advantages = dense("advantages", jax.nn.relu(dense("advantages_hidden_1", shared)))
    expected = value + advantages - advantages.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(net.q_values(params, x), expected, rtol=1e-5, atol=1e-6)
