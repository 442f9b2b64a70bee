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


def test_make_help_and_the_readme_table_name_the_same_targets():
    """`make help` names real targets, and every target of the README's table of targets is in
    it (it used to leave out the test suites one by one, run-program, user-tests,
    test-programs and programs-syscalls)."""
    import subprocess
    text = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout
    in_help = set()
    for line in text.splitlines():
        head = line.split("  ")[0]  # "make test-host / test-python / test-qemu"
        in_help |= set(re.findall(r"(?:make |/ )([a-z][\w-]*)", head))
    assert in_help <= makefile_targets(), in_help - makefile_targets()
    table = readme_table_targets()
    assert len(table) >= 15
    assert table - in_help == set()


def readme_table_targets():
    readme = (REPO / "README.md").read_text()
    start = readme.index("## Other targets and knobs")
    rows = [line.split("|")[1] for line in readme[start:].splitlines()
            if line.startswith("| `make")]
    named = set()
    for cell in rows:
        named |= set(re.findall(r"`(?:make )?([a-z][\w-]*)(?: [^`]*)?`", cell))
    return named - {"make"}
