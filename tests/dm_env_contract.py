"""dm_env's own conformance tests (`dm_env.test_utils.EnvironmentTestMixin`) for rlkit's envs.

`contract_test_case(make_env)` returns an `absltest.TestCase` class that pytest collects as
it is (assign it to a module-level name). Its actions are random values within the action
spec, enough of them to end episodes, so the contract around `LAST` is checked too.
"""

from __future__ import annotations

from collections.abc import Callable

import dm_env
import numpy as np
import tree
from absl.testing import absltest
from dm_env import specs, test_utils


def random_action(spec, rng: np.random.Generator):
    """A uniformly random action within a (nested) dm_env action spec."""

    def leaf(s):
        dtype = np.dtype(s.dtype)
        if isinstance(s, specs.DiscreteArray):
            return dtype.type(rng.integers(s.num_values))
        if isinstance(s, specs.BoundedArray):
            low = np.broadcast_to(s.minimum, s.shape)
            high = np.broadcast_to(s.maximum, s.shape)
            if np.issubdtype(dtype, np.integer):
                value = rng.integers(low, high, size=s.shape, endpoint=True)
            else:
                finite = np.isfinite(low) & np.isfinite(high)
                value = np.where(
                    finite,
                    rng.uniform(np.where(finite, low, 0.0), np.where(finite, high, 1.0)),
                    np.clip(rng.standard_normal(s.shape), low, high),
                )
        else:
            value = rng.standard_normal(s.shape)
        value = np.asarray(value).astype(dtype)
        return value[()] if s.shape == () else value

    return tree.map_structure(leaf, spec)


def contract_test_case(
    make_environment: Callable[[], dm_env.Environment], *, num_actions: int = 250, seed: int = 0
) -> type:
    """An absltest case running dm_env's `EnvironmentTestMixin` on `make_environment()`."""

    class EnvironmentContractTest(test_utils.EnvironmentTestMixin, absltest.TestCase):
        def make_object_under_test(self):
            return make_environment()

        def make_action_sequence(self):
            rng = np.random.default_rng(seed)
            spec = self.environment.action_spec()
            for _ in range(num_actions):
                yield random_action(spec, rng)

        def test_action_sequence_ends_an_episode(self):
            # The mixin only logs when its longer sequence never reaches LAST; here it must, so
            # that "step() after LAST gives FIRST" is checked for every environment.
            self.reset_environment()
            steps = [self.step_environment(a) for a in self.make_action_sequence()]
            last = [i for i, step in enumerate(steps) if step.last()]
            self.assertTrue(last, "the random actions never ended an episode")
            if last[0] + 1 < len(steps):
                self.assertIs(steps[last[0] + 1].step_type, dm_env.StepType.FIRST)

    return EnvironmentContractTest
