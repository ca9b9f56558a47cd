"""The distribution's name: `rlkit` on the package index is an unrelated project."""

import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
DISTRIBUTION = "rlkit-jax"


def test_the_distribution_is_not_named_like_the_unrelated_rlkit_on_the_index():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION


def test_every_install_hint_names_our_distribution():
    # `pip install 'rlkit[atari]'` would install the other project for anyone without a clone.
    places = [*ROOT.glob("rlkit/**/*.py"), *ROOT.glob("examples/*"), ROOT / "README.md"]
    places += [*ROOT.glob("docs/**/*.md"), *ROOT.glob("rlkit/agents/*/README.md")]
    wrong = []
    for path in places:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"(?<![\w-])rlkit\[|pip install -q? ?['\"]?rlkit(?![\w-])", line):
                wrong.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not wrong, "\n".join(wrong)
