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


def write_run(directory, agent_config, rows, seed=0):
    """A fake run directory: experiment.yaml and logs/evaluator.csv with `rows` (step, return)."""
    (directory / "logs").mkdir(parents=True)
    (directory / "experiment.yaml").write_text(
        f"agent: dqn\nenv_id: CartPole-v1\nseed: {seed}\nagent_config: {agent_config}\n"
    )
    lines = ["actor_steps,return_mean,return_std"] + [f"{s},{v},0.5" for s, v in rows]
    (directory / "logs" / "evaluator.csv").write_text("\n".join(lines) + "\n")
    return str(directory)


def write_episodes(directory, rows):
    """logs/episodes.parquet of a fake run, as the history logger writes it."""
    from rlkit.loggers.history import write_history

    history = [
        {"actor_steps": s, "wall_time": 0.0, "episode_return": r, "episode_length": 10}
        for s, r in rows
    ]
    write_history(str(directory / "logs" / "episodes.parquet"), history)


def every(last, value=lambda step: step / 100):
    """Evaluations every 1000 steps up to `last`."""
    return [(step, value(step)) for step in range(1000, last + 1, 1000)]


def curves_of(axis):
    """{label: (x, y)} of the labelled lines of an axis."""
    return {
        line.get_label(): (line.get_xdata(), line.get_ydata())
        for line in axis.lines
        if not line.get_label().startswith("_")
    }


def test_learning_curves_are_sorted_without_repeated_steps(tmp_path):
    # Rows as a crash and a resume can leave them: out of order, one step twice.
    run = write_run(tmp_path / "a", "{lr: 1}", [(200, 2.0), (100, 1.0), (200, 3.0)])
    curve = analysis.load_learning_curve(run)
    assert curve["actor_steps"].tolist() == [100, 200]
    assert curve["episode_return"].tolist() == [1.0, 3.0]  # The later row of a step wins.


def test_each_run_is_drawn_whole_and_labelled_by_its_name(figures, tmp_path):
    # Two seeds of one config, one five times longer: neither merged nor cut to the shorter.
    long = write_run(tmp_path / "cp_seed0", "{lr: 1}", every(50_000))
    short = write_run(tmp_path / "cp_seed1", "{lr: 1}", every(10_000), seed=1)
    notes = []
    out = analysis.plot_learning_curves(
        [long, short], str(tmp_path / "c.png"), on_note=notes.append
    )
    assert png_size(out) == (800, 500)
    (figure,) = figures
    (axis,) = figure.axes
    lines = curves_of(axis)
    assert list(lines) == ["cp_seed0", "cp_seed1"]
    assert lines["cp_seed0"][0].tolist() == list(range(1000, 50_001, 1000))
    assert lines["cp_seed1"][0].tolist() == list(range(1000, 10_001, 1000))
    assert lines["cp_seed1"][1].tolist() == [step / 100 for step in range(1000, 10_001, 1000)]
    assert notes == []  # Nothing hidden: nothing to say.


def test_runs_of_the_same_name_are_told_apart_by_their_parents(figures, tmp_path):
    runs = [
        write_run(tmp_path / c / "seed0", f"{{lr: {i}}}", every(3000)) for i, c in enumerate("ab")
    ]
    analysis.plot_learning_curves(runs, str(tmp_path / "c.png"))
    assert list(curves_of(figures[0].axes[0])) == ["a/seed0", "b/seed0"]


def test_a_single_evaluation_is_drawn_as_a_marker(figures, tmp_path):
    run = write_run(tmp_path / "early", "{lr: 1}", [(5000, 7.0)])
    analysis.plot_learning_curves([run], str(tmp_path / "c.png"))
    (line,) = figures[0].axes[0].lines
    assert line.get_label() == "early"
    assert line.get_xdata().tolist() == [5000] and line.get_ydata().tolist() == [7.0]
    assert line.get_marker() == "o" and line.get_linestyle() == "None"


def test_a_run_given_twice_is_drawn_once_with_a_note(figures, tmp_path):
    run = write_run(tmp_path / "a", "{lr: 1}", every(3000))
    notes = []
    analysis.plot_learning_curves([run, run], str(tmp_path / "c.png"), on_note=notes.append)
    assert list(curves_of(figures[0].axes[0])) == ["a"]
    assert len(notes) == 1 and "given twice" in notes[0]


def test_aggregate_is_the_mean_and_range_over_seeds_of_one_config(figures, tmp_path):
    # cp_seed1 stops at 10k of 50k: the mean is over both seeds up to 10k (solid), then over
    # the seed that went on (dashed); a note names the runs and their last steps.
    seed0 = write_run(tmp_path / "cp_seed0", "{lr: 1}", every(50_000))
    seed1 = write_run(tmp_path / "cp_seed1", "{lr: 1}", every(10_000, lambda s: s / 50), seed=1)
    other = write_run(tmp_path / "big_lr", "{lr: 2}", every(20_000, lambda s: 0.0))
    notes = []
    analysis.plot_learning_curves(
        [seed0, seed1, other], str(tmp_path / "c.png"), aggregate=True, on_note=notes.append
    )
    (axis,) = figures[0].axes
    lines = curves_of(axis)
    label = "dqn on CartPole-v1: cp (lr=1) [2 runs]"
    assert list(lines) == [label, "dqn on CartPole-v1: big_lr (lr=2) [1 run]"]
    steps = np.arange(1000, 50_001, 1000)
    x, y = lines[label]
    assert x.tolist() == steps.tolist()
    both = steps <= 10_000
    np.testing.assert_allclose(y[both], (steps[both] / 100 + steps[both] / 50) / 2)
    assert np.isnan(y[~both]).all()
    (dashed,) = [line for line in axis.lines if line.get_linestyle() == "--"]
    assert dashed.get_color() == axis.lines[0].get_color()
    np.testing.assert_allclose(dashed.get_ydata()[steps > 10_000], steps[steps > 10_000] / 100)
    assert np.isnan(dashed.get_ydata()[steps < 10_000]).all()
    band = axis.collections[0].get_paths()[0].vertices
    # At 10k the band spans the two seeds' returns, 100 and 200; at 50k the one seed's.
    assert set(band[band[:, 0] == 10_000, 1]) == {100.0, 200.0}
    assert set(band[band[:, 0] == 50_000, 1]) == {500.0}
    assert len(notes) == 1
    assert "cp_seed0 50,000" in notes[0] and "cp_seed1 10,000" in notes[0]
    assert "min to max" in axis.get_title()


def test_aggregate_of_single_evaluations_is_a_marker_with_its_range(figures, tmp_path):
    runs = [
        write_run(tmp_path / f"x_seed{seed}", "{lr: 1}", [(2000, float(seed))], seed=seed)
        for seed in range(3)
    ]
    notes = []
    analysis.plot_learning_curves(
        runs, str(tmp_path / "c.png"), aggregate=True, on_note=notes.append
    )
    (axis,) = figures[0].axes
    marker = curves_of(axis)["dqn on CartPole-v1: x [3 runs]"]
    assert marker[0].tolist() == [2000] and marker[1].tolist() == [1.0]
    (bars,) = [c for c in axis.collections if c.get_segments()]
    assert bars.get_segments()[0][:, 1].tolist() == [0.0, 2.0]
    assert notes == []


def test_training_episodes_are_drawn_raw_and_smoothed(figures, tmp_path):
    run = write_run(tmp_path / "a", "{lr: 1}", every(2000))
    write_episodes(tmp_path / "a", [(10 * i, float(i % 2)) for i in range(1, 9)])
    analysis.plot_learning_curves([run], str(tmp_path / "c.png"), episodes=True, smoothing_window=4)
    (figure,) = figures
    evaluations, training = figure.axes
    assert list(curves_of(evaluations)) == ["a"]
    assert "rolling mean of 4 episodes" in training.get_title()
    raw, smoothed = training.lines
    assert raw.get_ydata().tolist() == [1.0, 0.0] * 4 and raw.get_alpha() < 0.5
    assert smoothed.get_label() == "a"
    assert smoothed.get_xdata().tolist() == [10.0 * i for i in range(1, 9)]
    assert smoothed.get_ydata().tolist() == [1.0, 0.5, 2 / 3, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert png_size(str(tmp_path / "c.png")) == (800, 800)


def test_a_run_with_nothing_to_plot_is_one_clear_error(tmp_path):
    only_episodes = tmp_path / "only_episodes"
    (only_episodes / "logs").mkdir(parents=True)
    write_episodes(only_episodes, [(10, 1.0), (20, 2.0)])
    with pytest.raises(errors.CheckpointError, match="no evaluations.*--episodes"):
        analysis.plot_learning_curves([str(only_episodes)], str(tmp_path / "c.png"))
    only_evaluations = write_run(tmp_path / "only_evaluations", "{lr: 1}", every(2000))
    with pytest.raises(errors.CheckpointError, match="No training episodes to plot"):
        analysis.plot_learning_curves([only_evaluations], str(tmp_path / "c.png"), episodes=True)
    assert not (tmp_path / "c.png").exists()


def test_plot_command_aggregates_notes_and_errors(capsys, tmp_path):
    from rlkit.cli import main as cli

    seed0 = write_run(tmp_path / "cp_seed0", "{lr: 1}", every(5000))
    seed1 = write_run(tmp_path / "cp_seed1", "{lr: 1}", every(2000), seed=1)
    for directory in (seed0, seed1):
        write_episodes(tmp_path / directory, [(500, 1.0), (1500, 2.0)])
    out_png = tmp_path / "curves.png"
    argv = ["plot", seed0, seed1, "--aggregate", "--episodes", "--out", str(out_png)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("note: the runs of dqn on CartPole-v1: cp")
    assert "cp_seed0 5,000, cp_seed1 2,000" in out[0] and out[1] == f"wrote {out_png}"
    assert png_size(str(out_png)) == (800, 800)
    (tmp_path / "empty").mkdir()
    assert cli.main(["plot", str(tmp_path / "empty"), "--episodes"]) == 2
    err = capsys.readouterr().err
    assert "No training episodes to plot" in err and err.count("\n") == 1


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
