"""The analyzer's help is what the README says it is: the README's command block lists exactly
the subcommands `--help` offers, and each subcommand's one-line help is a whole sentence (it
used to stop at the docstring's first line break, mid-sentence)."""

import re
import subprocess
import sys

from conftest import REPO

README = (REPO / "README.md").read_text()


def help_text():
    return subprocess.run([sys.executable, "-m", "analyzer", "--help"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout


def offered():
    choices = re.search(r"\{([\w,]+)\}", help_text()).group(1)
    return choices.split(",")


def test_the_readme_lists_every_subcommand_and_no_other():
    listed = set(re.findall(r"^    /usr/bin/python3 -m analyzer (\w+)", README, re.M))
    assert len(offered()) >= 10
    assert listed == set(offered())


def test_each_subcommand_summary_is_a_whole_sentence():
    text = help_text()
    block = text[text.index("positional arguments:"):text.index("options:")]
    summaries = {}
    for line in block.splitlines()[2:]:
        head = re.match(r"^    (\w+)\s+(.*)$", line)
        if head:
            name = head.group(1)
            summaries[name] = head.group(2)
        elif line.strip():
            summaries[name] += " " + line.strip()
    assert sorted(summaries) == sorted(offered())
    unfinished = {name: s for name, s in summaries.items() if not s.endswith(".")}
    assert unfinished == {}
