"""Analysis: value heatmaps, episode plots, learning curves and videos."""

import gymnasium
import imageio.v2 as imageio
import numpy as np
import pytest
from dm_env import specs
from PIL import Image

import rlkit
from rlkit import analysis, errors


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def fake_q(observations):
    """Two actions; values depend on the state so the maps are not flat."""
    flat = np.asarray(observations, np.float64).reshape(len(observations), -1).sum(axis=1)
    return np.stack([flat, -flat], axis=1)


def test_value_heatmap_of_a_discrete_state(tmp_path):
    out = analysis.plot_value_heatmap(
        fake_q,
        specs.DiscreteArray(16),
        str(tmp_path / "frozenlake.png"),
        action_names=["left", "right"],
    )
    assert png_size(out) == (1000, 450)


def test_value_heatmap_of_a_2d_state(tmp_path):
    environment = rlkit.make_environment("MountainCar-v0")
    out = analysis.plot_value_heatmap(
        fake_q,
        environment.observation_spec(),
        str(tmp_path / "mountaincar.png"),
        resolution=20,
        axis_labels=("position", "velocity"),
        size_px=(900, 400),
    )
    assert png_size(out) == (900, 400)


def test_value_heatmap_errors(tmp_path):
    with pytest.raises(errors.ConfigError, match="discrete observation or a 2-D"):
        analysis.plot_value_heatmap(fake_q, specs.Array((4,), np.float32), str(tmp_path / "x.png"))
    with pytest.raises(errors.ConfigError, match="pass bounds"):
        analysis.plot_value_heatmap(fake_q, specs.Array((2,), np.float32), str(tmp_path / "x.png"))
    with pytest.raises(errors.ConfigError, match="does not hold 16 states"):
        analysis.plot_value_heatmap(
            fake_q, specs.DiscreteArray(16), str(tmp_path / "x.png"), grid_shape=(3, 5)
        )


class FixedActor(rlkit.Actor):
    def select_action(self, observation):
        return np.int64(0)

    def observe_first(self, timestep):
        pass

    def observe(self, action, next_timestep):
        pass

    def update(self, wait=False):
        pass


def test_record_and_plot_an_episode(tmp_path):
    environment = rlkit.make_environment("CartPole-v1", seed=0, render_mode="rgb_array")
    record = analysis.record_episode(environment, FixedActor(), fake_q, render=True)
    assert len(record.frames) == len(record) + 1  # The reset frame, then one per step.
    assert record.values.shape == (len(record), 2)
    assert record.episode_return == len(record)
    out = analysis.plot_episode(record, str(tmp_path / "episode.png"), size_px=(640, 480))
    assert png_size(out) == (640, 480)


def test_rendering_needs_rgb_array(tmp_path):
    environment = rlkit.make_environment("CartPole-v1")
    with pytest.raises(errors.ConfigError, match="render_mode='rgb_array'"):
        analysis.record_episode(environment, FixedActor(), render=True)


def test_videos_have_the_expected_frames(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(12)]
    frames += [frames[-1]] * 3  # A still stretch at the end, as when an episode ends.
    mp4 = str(tmp_path / "clip.mp4")
    assert analysis.write_video(frames, mp4, fps=25) == 15
    with imageio.get_reader(mp4) as reader:
        assert reader.count_frames() == 15
        assert reader.get_meta_data()["fps"] == 25
    gif = str(tmp_path / "clip.gif")
    assert analysis.write_video(frames, gif, fps=25) == 15
    with Image.open(gif) as image:
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
        assert image.size == (96, 64)
    # Pillow stores the still stretch as one longer frame: the playback time is exact.
    assert len(durations) == 12 and sum(durations) == pytest.approx(15 * 40)
    with pytest.raises(errors.ConfigError, match=".gif or .mp4"):
        analysis.write_video(frames, str(tmp_path / "clip.avi"))


def write_run(directory, agent_config, rows):
    (directory / "logs").mkdir(parents=True)
    (directory / "experiment.yaml").write_text(
        f"agent: dqn\nenv_id: CartPole-v1\nagent_config: {agent_config}\n"
    )
    lines = ["actor_steps,return_mean"] + [f"{step},{value}" for step, value in rows]
    (directory / "logs" / "evaluator.csv").write_text("\n".join(lines) + "\n")
    return str(directory)


def test_learning_curves_are_sorted_and_grouped_by_config(tmp_path):
    from rlkit.analysis import curves

    # Rows as a crash and a resume can leave them: out of order, one step twice.
    run = write_run(tmp_path / "a", "{lr: 1}", [(200, 2.0), (100, 1.0), (200, 3.0)])
    curve = analysis.load_learning_curve(run)
    assert curve["actor_steps"].tolist() == [100, 200]
    assert curve["episode_return"].tolist() == [1.0, 3.0]  # The later row of a step wins.
    seed_twin = write_run(tmp_path / "b", "{lr: 1}", [(100, 5.0), (200, 5.0)])
    other = write_run(tmp_path / "c", "{lr: 2}", [(100, 0.0), (200, 0.0)])
    assert curves._group(run) == curves._group(seed_twin) != curves._group(other)
    labels = curves._number_duplicates({"k1": "dqn on X", "k2": "dqn on X", "k3": "sac on Y"})
    assert labels == {"k1": "dqn on X, config 1", "k2": "dqn on X, config 2", "k3": "sac on Y"}
    out = analysis.plot_learning_curves([run, seed_twin, other], str(tmp_path / "c.png"))
    assert png_size(out) == (800, 500)


def four_action_q(observations):
    """Four actions (FrozenLake's); the greedy one cycles with the state."""
    flat = np.asarray(observations, np.float64).reshape(len(observations), -1).sum(axis=1)
    return np.stack([np.cos(flat + shift) for shift in range(4)], axis=1)


def test_frozenlake_map_marks_holes_goal_and_start(figures, tmp_path):
    from rlkit.analysis import values

    environment = gymnasium.make("FrozenLake-v1")
    grid_map = values.grid_world_map(environment, 16)
    assert grid_map == ["SFFF", "FHFH", "FFFH", "HFFG"]
    names = values.action_names("FrozenLake-v1", environment, 4)
    assert names == ["Left", "Down", "Right", "Up"]
    out = analysis.plot_value_heatmap(
        four_action_q,
        specs.DiscreteArray(16),
        str(tmp_path / "frozenlake.png"),
        action_names=names,
        grid_map=grid_map,
    )
    assert png_size(out) == (1000, 450)
    (figure,) = figures
    values_axis, actions_axis = figure.axes[0], figure.axes[1]  # Then their colorbars.
    for axis in (values_axis, actions_axis):
        texts = [text.get_text() for text in axis.texts]
        assert texts.count("H") == 4 and texts.count("G") == 1 and texts.count("S") == 1
        hatched = [patch for patch in axis.patches if patch.get_hatch() == "//"]
        assert len(hatched) == 4  # The holes: black, hatched.
        assert sum(patch.get_label() == "goal" for patch in axis.patches) == 1
    # Holes and the goal are out of the colour scale: 16 - 5 states carry a value.
    assert values_axis.images[0].get_array().count() == 11
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["H: hole", "G: goal", "S: start"]
    colorbar_labels = [label.get_text() for label in figure.axes[3].get_yticklabels()]
    assert colorbar_labels == ["\u2190 Left", "\u2193 Down", "\u2192 Right", "\u2191 Up"]
    assert set(text.get_text() for text in actions_axis.texts) >= {"\u2190", "\u2192"}


def test_cliff_walking_map_and_action_names():
    from rlkit.analysis import values

    environment = gymnasium.make("CliffWalking-v1")
    grid_map = values.grid_world_map(environment, 48)
    assert grid_map[:3] == ["." * 12] * 3 and grid_map[3] == "S" + "C" * 10 + "G"
    assert values.action_names("CliffWalking-v1", environment, 4) == [
        "Up",
        "Right",
        "Down",
        "Left",
    ]
    # Taxi's `desc` draws its walls, not one cell per state: no map.
    assert values.grid_world_map(gymnasium.make("Taxi-v4"), 500) is None


def test_action_names_from_the_env_the_table_or_numbers():
    from rlkit.analysis import values

    class Atari:
        unwrapped = None

        def get_action_meanings(self):
            return ["NOOP", "FIRE"]

    atari = Atari()
    atari.unwrapped = atari
    assert values.action_names("ALE/Pong-v5", atari, 2) == ["NOOP", "FIRE"]
    car = gymnasium.make("MountainCar-v0")
    assert values.action_names("MountainCar-v0", car, 3) == [
        "Accelerate left",
        "Don't accelerate",
        "Accelerate right",
    ]
    assert values.action_names("Unknown-v0", None, 2) == ["action 0", "action 1"]
    # A table entry with the wrong number of actions (a modified env) is not used.
    assert values.action_names("FrozenLake-v1", None, 3) == ["action 0", "action 1", "action 2"]


def test_grid_map_must_match_the_grid(tmp_path):
    with pytest.raises(errors.ConfigError, match="grid_map has 2 rows"):
        analysis.plot_value_heatmap(
            fake_q, specs.DiscreteArray(16), str(tmp_path / "x.png"), grid_map=["SFFF", "FHFH"]
        )
