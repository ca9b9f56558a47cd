"""`rlkit plot RUN --values`: value heatmaps of tiny trained runs, end to end."""

import pytest
from PIL import Image

from rlkit.cli import main as cli

TINY = ["--set", "min_replay_size=100", "--set", "hidden_sizes=[32,32]"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def train(directory, env_id, steps):
    run_dir = directory / env_id
    argv = ["train", "dqn", "--env", env_id, "--steps", str(steps), "--run-dir", str(run_dir)]
    argv += ["--eval-every", str(steps), "--eval-episodes", "1", "--logger", "none", *TINY]
    assert cli.main(argv) == 0
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("values")
    return {
        "FrozenLake-v1": train(directory, "FrozenLake-v1", 2000),
        "MountainCar-v0": train(directory, "MountainCar-v0", 400),
        "CartPole-v1": train(directory, "CartPole-v1", 200),
    }


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


@pytest.mark.slow
def test_frozenlake_values_mark_the_map_and_name_the_actions(
    figures, runs, capsys, tmp_path, monkeypatch
):
    out_png = tmp_path / "frozenlake.png"
    code, out, err = run_cli(capsys, "plot", runs["FrozenLake-v1"], "--values", "--out", out_png)
    assert code == 0 and f"wrote {out_png}" in out, err
    assert png_size(out_png) == (1000, 450)
    (figure,) = figures
    assert figure.texts[0].get_text() == "dqn on FrozenLake-v1"  # The title.
    values_axis, actions_axis, _, actions_colorbar = figure.axes
    for axis in (values_axis, actions_axis):
        texts = [text.get_text() for text in axis.texts]
        assert texts.count("H") == 4 and texts.count("G") == 1 and texts.count("S") == 1
        assert sum(patch.get_hatch() == "//" for patch in axis.patches) == 4
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["H: hole", "G: goal", "S: start"]
    labels = [label.get_text() for label in actions_colorbar.get_yticklabels()]
    assert [label.split()[-1] for label in labels] == ["Left", "Down", "Right", "Up"]


def test_values_png_defaults_to_values_png(runs, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "plot", runs["FrozenLake-v1"], "--values")
    assert code == 0 and "wrote values.png" in out
    assert png_size(tmp_path / "values.png") == (1000, 450)


def test_mountaincar_values_over_position_and_velocity(
    figures, runs, capsys, tmp_path, monkeypatch
):
    out_png = tmp_path / "mountaincar.png"
    code, out, err = run_cli(capsys, "plot", runs["MountainCar-v0"], "--values", "--out", out_png)
    assert code == 0 and f"wrote {out_png}" in out, err
    assert png_size(out_png) == (1000, 450)
    (figure,) = figures
    values_axis, actions_axis, _, actions_colorbar = figure.axes
    assert values_axis.get_xlabel() == "position" and values_axis.get_ylabel() == "velocity"
    assert values_axis.images[0].get_array().shape == (60, 60)
    labels = [label.get_text() for label in actions_colorbar.get_yticklabels()]
    assert labels == ["Accelerate left", "Don't accelerate", "Accelerate right"]
    assert "goal " in [text.get_text() for text in actions_axis.texts]  # The flag's line.


def test_unsupported_observation_is_one_line(runs, capsys, tmp_path):
    out_png = tmp_path / "cartpole.png"
    code, _, err = run_cli(capsys, "plot", runs["CartPole-v1"], "--values", "--out", out_png)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("rlkit: error: --values: ")
    assert "FrozenLake-v1" in err and "MountainCar-v0" in err  # The runs that are supported.
    assert "CartPole-v1 has a float32 observation of shape 4" in err
    assert not out_png.exists()


def test_values_take_one_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "plot", tmp_path, tmp_path, "--values")
    assert code == 2 and "--values plots one run, got 2 run dirs" in err
    code, _, err = run_cli(capsys, "plot", tmp_path / "missing", "--values")
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
