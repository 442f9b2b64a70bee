"""Every `make` command the user-facing documents show names targets the Makefile has and knobs
it reads: a renamed target or a dropped variable would leave a command that does nothing, or
not what the text says."""

import re

import pytest

from conftest import REPO

DOCUMENTS = ("README.md", "benchmarks/README.md", "trace/FORMAT.md", "results/README.md",
             "trace/WORKLOAD.md", "benchmarks/workloads/README.md")
MAKEFILE = (REPO / "Makefile").read_text()


def makefile_targets():
    targets = set()
    for rule in re.finditer(r"^([A-Za-z0-9_.-][A-Za-z0-9_. -]*?)\s*::?(?!=)", MAKEFILE, re.M):
        targets |= set(rule.group(1).split())
    return targets


def commands(document):
    """`make ...` in backquotes, and indented code lines starting with make."""
    text = (REPO / document).read_text()
    spans = re.findall(r"`(make(?: [^`]*)?)`", re.sub(r"```.*?```", "", text, flags=re.S))
    lines = re.findall(r"^ {4,}(make(?: .*)?)$", text, re.M)
    lines += re.findall(r"^(make(?: .*)?)$", "\n".join(re.findall(r"```\n(.*?)```", text, re.S)),
                        re.M)
    for command in spans + lines:
        yield command.split("#")[0].split(";")[0].split("&&")[0].strip()


def words(command):
    """The targets and the knobs (NAME=value) of one make command line."""
    targets, knobs = [], []
    optional_dropped = re.sub(r"[][]", " ", command)  # [VMM=list]: an optional knob
    for word in re.findall(r'[A-Za-z0-9_./-]+=(?:"[^"]*"|\S*)|\S+', optional_dropped)[1:]:
        if "=" in word:
            knobs.append(word.split("=")[0])
        elif not word.startswith(("-", "build/", "$", "|")) and re.fullmatch(r"[\w.-]+", word):
            targets.append(word)
    return targets, knobs


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_make_command_names_real_targets_and_knobs(document):
    targets = makefile_targets()
    assert {"test", "report", "bench", "trace"} <= targets
    problems = []
    for command in commands(document):
        named, knobs = words(command)
        problems += [f"{command}: no target {t}" for t in named if t not in targets]
        problems += [f"{command}: the Makefile never reads {k}" for k in knobs
                     if not re.search(rf"\$\({k}\)|^{k}\s*[?:+]?=|\b{k}\b", MAKEFILE, re.M)]
    assert problems == []


def test_the_readme_shows_make_commands():
    assert len(list(commands("README.md"))) >= 20
