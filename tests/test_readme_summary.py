"""bench/readme_summary.py: BENCHMARKS.md's comparison tables to README's summary and figure."""

from __future__ import annotations

import pathlib
import struct

import pytest

from bench import readme_summary

# Two sections, two seeds. The DQN table has its columns in another order than the bench
# scripts write them, and rlkit rows on three jax versions (0.10.0 is the newest: compared as
# numbers, not strings). A table outside the markers must not be read.
BENCHMARKS = """# Benchmarks

| seed | run | train s | / SBX | / SB3 | updates | return |
|---|---|---|---|---|---|---|
| 0 | rlkit, local replay, jax 0.10.0 | 1.0 | 9.99 | 9.99 | 1 | -1.0 |

<!-- compare_sb3:start -->
## rlkit vs SBX and Stable-Baselines3, DQN CartPole-v1, 50,000 steps (`bench/compare_sb3.py`)

Run one after the other per seed on this machine (2 cores).

| run | seed | return | / SB3 | train s | / SBX | updates |
|---|---|---|---|---|---|---|
| rlkit, local replay, jax 0.9.2 | 0 | 500.0 | 0.90 | 9.0 | 0.90 | 10 |
| rlkit, reverb replay, jax 0.10.0 | 0 | 500.0 | 0.80 | 8.0 | 0.80 | 10 |
| rlkit, local replay, jax 0.10.0 | 0 | 100.0 | 0.20 | 2.0 | 0.50 | 10 |
| SBX | 0 | 50.0 | 0.40 | 4.0 | 1.00 | 10 |
| SB3 | 0 | 500.0 | 1.00 | 10.0 | 2.50 | 10 |
| rlkit, local replay, jax 0.9.2 | 1 | 500.0 | 0.90 | 9.0 | 0.90 | 10 |
| rlkit, reverb replay, jax 0.10.0 | 1 | 500.0 | 0.80 | 8.0 | 0.80 | 10 |
| rlkit, local replay, jax 0.10.0 | 1 | 300.0 | 0.30 | 3.0 | 0.70 | 10 |
| SBX | 1 | 150.0 | 0.60 | 6.0 | 1.00 | 10 |
| SB3 | 1 | 400.0 | 1.00 | 10.0 | 1.67 | 10 |

Wall-clock ratios, mean over seeds:
- rlkit, local replay, jax 0.10.0 / SBX: 0.60 (per seed 0.50, 0.70)
<!-- compare_sb3:end -->

<!-- compare_qrdqn:start -->
## rlkit vs sb3-contrib, QR-DQN CartPole-v1, 50,000 steps (`bench/compare_sb3.py --algo qrdqn`)

| seed | run | train s | / sb3-contrib | updates | return | acting steps/s |
|---|---|---|---|---|---|---|
| 0 | rlkit, local replay, jax 0.10.0 | 3.0 | 0.30 | 10 | -10.0 | 1000 |
| 0 | sb3-contrib | 10.0 | 1.00 | 10 | 0.0 |  |
| 1 | rlkit, local replay, jax 0.10.0 | 4.0 | 0.40 | 10 | -30.0 | 1000 |
| 1 | sb3-contrib | 10.0 | 1.00 | 10 | 10.0 |  |
<!-- compare_qrdqn:end -->
"""

README = """# rlkit

## Benchmarks

<!-- readme_benchmarks:start -->
<!-- readme_benchmarks:end -->

## Development
"""


def summaries() -> list[readme_summary.Summary]:
    sections = readme_summary.parse_benchmarks(BENCHMARKS)
    return [readme_summary.summarise(section) for section in sections]


def test_the_sections_present_are_read_and_the_missing_ones_named(capsys):
    sections = readme_summary.parse_benchmarks(BENCHMARKS)
    assert [section.name for section in sections] == ["compare_sb3", "compare_qrdqn"]
    assert [len(section.rows) for section in sections] == [10, 4]
    assert sections[0].peers == ["SB3", "SBX"]
    assert sections[0].cores == 2 and sections[1].cores is None
    assert sections[0].date is None
    out = capsys.readouterr().out
    for missing in ("compare_sac", "compare_td3", "compare_ppo"):
        assert f"`{missing}`" in out


def test_rlkit_on_the_newest_jax_against_each_peer():
    dqn, qrdqn = summaries()
    assert dqn.label == "DQN CartPole-v1 (50k)"
    assert dqn.rlkit == "rlkit, local replay, jax 0.10.0"
    assert dqn.seeds == ["0", "1"]
    assert (dqn.sbx, dqn.sb3) == ("SBX", "SB3")
    assert dqn.ratios == pytest.approx({"SBX": (0.50 + 0.70) / 2, "SB3": (0.20 + 0.30) / 2})
    assert dqn.returns == {dqn.rlkit: [100.0, 300.0], "SBX": [50.0, 150.0], "SB3": [500.0, 400.0]}
    assert dqn.relative_to_sb3 == pytest.approx({dqn.rlkit: 0.25, "SBX": 0.5, "SB3": 1.0})

    assert qrdqn.label == "QR-DQN CartPole-v1 (50k)"
    assert (qrdqn.sbx, qrdqn.sb3) == (None, "sb3-contrib")
    assert qrdqn.ratios == pytest.approx({"sb3-contrib": 0.35})
    assert qrdqn.returns == {qrdqn.rlkit: [-10.0, -30.0], "sb3-contrib": [0.0, 10.0]}
    assert qrdqn.relative_to_sb3 == pytest.approx({qrdqn.rlkit: 0.35, "sb3-contrib": 1.0})


def test_the_readme_table_rows():
    lines = readme_summary.readme_body(summaries()).splitlines()
    assert lines[0].startswith("| algorithm, environment (budget) | seeds | rlkit wall-clock / SBX")
    assert lines[2] == (
        "| [DQN CartPole-v1 (50k)](BENCHMARKS.md#rlkit-vs-sbx-and-stable-baselines3-dqn-"
        "cartpole-v1-50000-steps-benchcompare_sb3py) | 2 | 0.60 | 0.25 | 200.0 [100.0, 300.0] "
        "| 100.0 [50.0, 150.0] | 450.0 [400.0, 500.0] |"
    )
    assert lines[3] == (
        "| [QR-DQN CartPole-v1 (50k)](BENCHMARKS.md#rlkit-vs-sb3-contrib-qr-dqn-cartpole-v1-"
        "50000-steps-benchcompare_sb3py---algo-qrdqn) | 2 | - | 0.35 (sb3-contrib) "
        "| -20.0 [-30.0, -10.0] | - | 5.0 [0.0, 10.0] (sb3-contrib) |"
    )
    assert "jax 0.10.0" in lines[-1]


def test_the_figure_is_a_png_of_900_by_400(tmp_path):
    path = tmp_path / "assets" / "benchmarks.png"
    readme_summary.draw_figure(readme_summary.parse_benchmarks(BENCHMARKS), summaries(), path)
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (900, 400)


def write_inputs(tmp_path: pathlib.Path, readme: str) -> list[str]:
    (tmp_path / "BENCHMARKS.md").write_text(BENCHMARKS)
    (tmp_path / "README.md").write_text(readme)
    return [
        f"--benchmarks={tmp_path / 'BENCHMARKS.md'}",
        f"--readme={tmp_path / 'README.md'}",
        f"--figure={tmp_path / 'benchmarks.png'}",
    ]


def test_the_table_goes_between_the_markers_and_check_compares_it(tmp_path):
    paths = write_inputs(tmp_path, README)
    assert readme_summary.main([*paths, "--check"]) == 1
    assert readme_summary.main(paths) == 0
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("# rlkit\n\n## Benchmarks\n\n<!-- readme_benchmarks:start -->\n| algo")
    assert text.endswith("<!-- readme_benchmarks:end -->\n\n## Development\n")
    assert (tmp_path / "benchmarks.png").exists()
    assert readme_summary.main([*paths, "--check"]) == 0
    (tmp_path / "README.md").write_text(text.replace("| 0.60 |", "| 0.61 |"))
    assert readme_summary.main([*paths, "--check"]) == 1


def test_without_markers_the_table_is_printed_and_readme_left_alone(tmp_path, capsys):
    readme = "# rlkit\n\nNo markers.\n"
    paths = write_inputs(tmp_path, readme)
    assert readme_summary.main(paths) == 0
    assert (tmp_path / "README.md").read_text() == readme
    out = capsys.readouterr().out
    assert "| [DQN CartPole-v1 (50k)]" in out and "no `<!-- readme_benchmarks:start -->`" in out
    assert readme_summary.main([*paths, "--check"]) == 1


def test_a_section_s_date_and_cores_are_read_from_its_text():
    text = BENCHMARKS.replace("Run one after", "Run of 2026-12-02. Run one after")
    section = readme_summary.parse_section("compare_sb3", text)
    assert (section.date, section.cores) == ("2026-12-02", 2)
