"""The README's benchmark summary (a table and a figure), drawn from BENCHMARKS.md.

Reads the comparison sections the bench scripts write (`bench/compare_sb3.py`, also with
`--algo qrdqn`, `bench/compare_continuous.py` and `bench/compare_ppo.py`): only the table between
each section's markers, its columns found by the header row. For each algorithm it takes rlkit
on the base install (the "rlkit, local replay, jax X" row with the newest jax) and reports the
mean over seeds of its wall-clock ratio to each peer (SBX, and SB3 or sb3-contrib) and each
side's final return (mean over seeds, [min, max]). A missing section is skipped with a note.

Writes the table into README.md between `<!-- readme_benchmarks:start -->` and
`<!-- readme_benchmarks:end -->` (printed instead when README.md has no such markers) and
draws docs/assets/benchmarks.png: per algorithm, training wall-clock relative to SB3.

    .venv/bin/python bench/readme_summary.py           # writes both
    .venv/bin/python bench/readme_summary.py --check   # exit 1 if README's table is stale
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import re
import statistics
import sys

try:
    from bench._report import BENCHMARKS, markdown_table, read_section, write_section
except ImportError:
    from _report import BENCHMARKS, markdown_table, read_section, write_section

ROOT = BENCHMARKS.parent
README = ROOT / "README.md"
FIGURE = ROOT / "docs" / "assets" / "benchmarks.png"
README_SECTION = "readme_benchmarks"
# The BENCHMARKS.md sections summarised, in the order of the README's table and the figure.
SECTIONS = (
    "compare_sb3",
    "compare_two_line",
    "compare_qrdqn",
    "compare_sac",
    "compare_td3",
    "compare_ppo",
)
RLKIT_BASE = re.compile(r"^rlkit, local replay, jax (?P<version>[\w.]+)$")
# "..., DQN CartPole-v1, 50,000 steps (`bench/compare_sb3.py`)"
TITLE = re.compile(r",\s*(?P<what>[^,]+),\s*(?P<steps>\d[\d,]*) steps\b")
# A date the section gives for its data ("Run of 2026-12-02", "Date: 2026-12-02").
DATE = re.compile(r"(?i)\b(?:run of|date:?)\s+(\d{4}-\d{2}-\d{2})\b")
CORES = re.compile(r"\((\d+) cores\)")


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of a comparison table: a seed of one run (rlkit set-up or peer library)."""

    seed: str
    run: str
    ratios: dict[str, float]  # peer name (the "/ NAME" column) -> wall-clock over the peer's
    final_return: float


@dataclasses.dataclass(frozen=True)
class Section:
    """A comparison section of BENCHMARKS.md: its marker name, title, table and metadata."""

    name: str
    title: str
    peers: list[str]  # the "/ NAME" columns, in order
    rows: list[Row]
    date: str | None = None
    cores: int | None = None


@dataclasses.dataclass(frozen=True)
class Summary:
    """One algorithm's line of the README: rlkit (base install) against its peers."""

    section: str
    title: str
    label: str  # "DQN CartPole-v1 (50k)"
    rlkit: str  # the rlkit run summarised, "rlkit, local replay, jax 0.12.0.1"
    seeds: list[str]  # seeds of that run
    sbx: str | None  # the peers' run names, None when the section has no such peer
    sb3: str | None  # "SB3" or "sb3-contrib"
    ratios: dict[str, float]  # peer name -> mean over seeds of rlkit's seconds / the peer's
    returns: dict[str, list[float]]  # run name -> final return per seed
    relative_to_sb3: dict[str, float]  # run name -> mean over seeds of its seconds / SB3's


def parse_table(text: str) -> list[dict[str, str]]:
    """The rows of the first markdown table in `text` with "seed" and "run" columns, as dicts
    keyed by the header's cells (so column order does not matter)."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.lstrip().startswith("|"):
            continue
        header = _cells(line)
        if "seed" not in header or "run" not in header:
            continue
        rows = []
        for row in lines[index + 1 :]:
            if not row.lstrip().startswith("|"):
                break
            cells = _cells(row)
            if all(set(cell) <= set("-: ") for cell in cells):  # the |---| separator
                continue
            rows.append(dict(zip(header, cells, strict=False)))
        return rows
    return []


def _cells(line: str) -> list[str]:
    """The stripped cells of a markdown table line."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_section(name: str, text: str) -> Section | None:
    """Section `name` of a BENCHMARKS.md text; None when it has no such section or table."""
    body = read_section(name, text)
    if body is None:
        return None
    table = parse_table(body)
    peers = [column[1:].strip() for column in (table[0] if table else ()) if column[:1] == "/"]
    if not table or "return" not in table[0] or not peers:
        print(f"readme_summary: `{name}` has no table with seed, run, return and / PEER columns")
        return None
    title = next(
        (line.lstrip("#").strip() for line in body.splitlines() if line.startswith("#")), name
    )
    rows = []
    for row in table:
        try:
            rows.append(
                Row(
                    seed=row["seed"],
                    run=row["run"],
                    ratios={
                        peer: float(row[f"/ {peer}"]) for peer in peers if row.get(f"/ {peer}")
                    },
                    final_return=float(row["return"]),
                )
            )
        except (KeyError, ValueError):
            print(
                f"readme_summary: `{name}`: a row that is not a number where one is due, skipped:"
            )
            print("  | " + " | ".join(row.values()) + " |")
    dates = DATE.findall(body)
    cores = CORES.search(body)
    return Section(
        name=name,
        title=title,
        peers=peers,
        rows=rows,
        date=max(dates) if dates else None,
        cores=int(cores.group(1)) if cores else None,
    )


def parse_benchmarks(text: str, names: tuple[str, ...] = SECTIONS) -> list[Section]:
    """The sections `names` of a BENCHMARKS.md text that exist, each missing one said on stdout."""
    sections = []
    for name in names:
        section = parse_section(name, text)
        if section is None:
            print(f"readme_summary: no `{name}` section with a table in BENCHMARKS.md, skipped")
        else:
            sections.append(section)
    return sections


def _version(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def summarise(section: Section) -> Summary | None:
    """rlkit on the base install (local replay, newest jax) against the section's peers."""
    versions = {
        match["version"]: row.run for row in section.rows if (match := RLKIT_BASE.match(row.run))
    }
    if not versions:
        print(f"readme_summary: no rlkit local-replay run in `{section.name}`, skipped")
        return None
    rlkit = versions[max(versions, key=_version)]
    sbx = next((peer for peer in section.peers if peer.lower() == "sbx"), None)
    sb3 = next((peer for peer in section.peers if peer.lower().startswith("sb3")), None)
    by_run: dict[str, list[Row]] = {}
    for row in section.rows:
        by_run.setdefault(row.run, []).append(row)
    ours = by_run[rlkit]
    shown = [run for run in (rlkit, sbx, sb3) if run is not None and run in by_run]
    match = TITLE.search(section.title)
    label = (
        f"{match['what'].strip()} ({_budget(int(match['steps'].replace(',', '')))})"
        if match
        else section.title
    )
    return Summary(
        section=section.name,
        title=section.title,
        label=label,
        rlkit=rlkit,
        seeds=[row.seed for row in ours],
        sbx=sbx,
        sb3=sb3,
        ratios={
            peer: statistics.fmean(row.ratios[peer] for row in ours)
            for peer in section.peers
            if all(peer in row.ratios for row in ours)
        },
        returns={run: [row.final_return for row in by_run[run]] for run in shown},
        relative_to_sb3={
            run: statistics.fmean(row.ratios[sb3] for row in by_run[run])
            for run in shown
            if sb3 is not None and all(sb3 in row.ratios for row in by_run[run])
        },
    )


def _budget(steps: int) -> str:
    """50000 -> "50k", 1000000 -> "1M"."""
    if steps % 1_000_000 == 0:
        return f"{steps // 1_000_000}M"
    return f"{steps // 1000}k" if steps % 1000 == 0 else f"{steps:,}"


def github_anchor(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def _return_cell(values: list[float] | None) -> str:
    if not values:
        return "-"
    return f"{statistics.fmean(values):.1f} [{min(values):.1f}, {max(values):.1f}]"


def readme_body(summaries: list[Summary]) -> str:
    """The README section: a table with one line per algorithm and a line saying which rlkit
    set-up it shows and what the brackets are (the figure and the prose are README's own)."""
    header = [
        "algorithm, environment (budget)",
        "seeds",
        "rlkit wall-clock / SBX",
        "rlkit / SB3",
        "return rlkit",
        "return SBX",
        "return SB3",
    ]
    rows = []
    for summary in summaries:
        contrib = f" ({summary.sb3})" if summary.sb3 and summary.sb3 != "SB3" else ""
        sbx_ratio = summary.ratios.get(summary.sbx) if summary.sbx else None
        sb3_ratio = summary.ratios.get(summary.sb3) if summary.sb3 else None
        rows.append(
            [
                f"[{summary.label}](BENCHMARKS.md#{github_anchor(summary.title)})",
                len(summary.seeds),
                "-" if sbx_ratio is None else f"{sbx_ratio:.2f}",
                "-" if sb3_ratio is None else f"{sb3_ratio:.2f}{contrib}",
                _return_cell(summary.returns.get(summary.rlkit)),
                _return_cell(summary.returns.get(summary.sbx) if summary.sbx else None),
                _return_cell(summary.returns.get(summary.sb3) if summary.sb3 else None) + contrib,
            ]
        )
    rlkit_runs = ", ".join(sorted({summary.rlkit.removeprefix("rlkit, ") for summary in summaries}))
    return (
        f"{markdown_table(header, rows)}\n\n"
        f"rlkit on the base install ({rlkit_runs}); returns are the mean over seeds [min, max]."
    )


def draw_figure(sections: list[Section], summaries: list[Summary], path: pathlib.Path) -> None:
    """Grouped bars per algorithm: training wall-clock of SB3 (1.0), SBX and rlkit relative to
    SB3 (sb3-contrib for QR-DQN), each labelled with its mean over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cores = {section.cores for section in sections}
    machine = f"{cores.pop()}-core CPU" if len(cores) == 1 and None not in cores else "CPU"
    dates = sorted({section.date for section in sections if section.date})
    rlkit_runs = ", ".join(sorted({summary.rlkit.removeprefix("rlkit, ") for summary in summaries}))
    # (legend label, colour) of the three kinds of bar, in their order within a group.
    others = [f"{s.sb3} for {s.label.split()[0]}" for s in summaries if s.sb3 not in (None, "SB3")]
    kinds = {
        "sb3": (f"SB3 (PyTorch{''.join(f'; {other}' for other in others)})", "#9a9a9a"),
        "sbx": ("SBX (JAX)", "#5b8fc9"),
        "rlkit": (f"rlkit, base install ({rlkit_runs})", "#e0702a"),
    }
    width = 0.26
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    drawn: set[str] = set()
    ticks = []
    for group, summary in enumerate(summaries):
        runs = {"sb3": summary.sb3, "sbx": summary.sbx, "rlkit": summary.rlkit}
        bars = [
            (kind, summary.relative_to_sb3[run])
            for kind, run in runs.items()
            if run is not None and run in summary.relative_to_sb3
        ]
        for index, (kind, value) in enumerate(bars):
            x = group + (index - (len(bars) - 1) / 2) * width
            label, colour = kinds[kind]
            ax.bar(x, value, width * 0.92, color=colour, label=None if kind in drawn else label)
            ax.text(x, value + 0.02, f"{value:.2f}", ha="center", va="bottom", fontsize=9)
            drawn.add(kind)
        peer_note = f"\n(vs {summary.sb3})" if summary.sbx is None and summary.sb3 else ""
        algorithm, environment, budget = summary.label.rsplit(" ", 2)
        ticks.append(f"{algorithm}\n{environment} {budget}" + peer_note)
    ax.axhline(1.0, color="#444444", linewidth=0.8, linestyle="--", zorder=0)
    ax.set_xticks(range(len(summaries)), ticks, fontsize=9)
    ax.set_ylabel("wall-clock / SB3's")
    ax.set_ylim(0, max([1.0, *(v for s in summaries for v in s.relative_to_sb3.values())]) * 1.15)
    ax.spines[["top", "right"]].set_visible(False)
    order = [kinds[kind][0] for kind in kinds if kind in drawn]
    handles, labels = ax.get_legend_handles_labels()
    pairs = sorted(zip(labels, handles, strict=True), key=lambda pair: order.index(pair[0]))
    ax.legend(
        [handle for _, handle in pairs],
        [label for label, _ in pairs],
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(pairs),
        fontsize=9,
        frameon=False,
    )
    ax.set_title(
        "training wall-clock relative to Stable-Baselines3 (lower is faster),\n"
        f"same hyperparameters and updates, {machine}",
        fontsize=11,
        pad=22,
    )
    seeds = sorted({len(summary.seeds) for summary in summaries})
    note = f"Mean over {'/'.join(map(str, seeds))} seeds. Data: BENCHMARKS.md"
    if dates:
        note += f", runs of {dates[0]}" + (f" to {dates[-1]}" if len(dates) > 1 else "")
    fig.text(0.01, 0.01, note + ".", fontsize=8, color="#555555")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README's table is stale")
    parser.add_argument("--benchmarks", type=pathlib.Path, default=BENCHMARKS)
    parser.add_argument("--readme", type=pathlib.Path, default=README)
    parser.add_argument("--figure", type=pathlib.Path, default=FIGURE)
    args = parser.parse_args(argv)
    sections = parse_benchmarks(args.benchmarks.read_text())
    summaries = [summary for section in sections if (summary := summarise(section))]
    if not summaries:
        print(f"readme_summary: nothing to summarise in {args.benchmarks}")
        return 1
    body = readme_body(summaries)
    readme = args.readme.read_text() if args.readme.exists() else ""
    current = read_section(README_SECTION, readme)
    if args.check:
        if current == body.strip():
            print(f"readme_summary: {args.readme.name}'s table agrees with BENCHMARKS.md")
            return 0
        reason = "has no `readme_benchmarks` markers" if current is None else "is stale"
        print(f"readme_summary: {args.readme.name} {reason}; run bench/readme_summary.py")
        return 1
    if current is None:
        print(body)
        print(
            f"\nreadme_summary: {args.readme} has no `<!-- {README_SECTION}:start -->` / "
            f"`<!-- {README_SECTION}:end -->` markers; the section above was not written"
        )
    else:
        write_section(README_SECTION, body, path=args.readme)
        print(f"readme_summary: wrote the table into {args.readme}")
    draw_figure(sections, summaries, args.figure)
    print(f"readme_summary: drew {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
