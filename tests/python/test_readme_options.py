"""The README's kernel command-line table offers exactly the values the kernel's own lists
define: every scenario of SCENARIO_LIST (it had left out pmm-pairs and program), every pmm= of
PMM_ALLOCATOR_LIST, every vmm= backend of events.def; and its scenario table has one row per
scenario."""

import re

from analyzer.definitions.events import FORMAT
from conftest import REPO

README = (REPO / "README.md").read_text()


def option_values(option):
    row = re.search(rf"^\| `{option}` \| ([^|]*) \|", README, re.M).group(1)
    return set(re.findall(r"`([\w-]+)`", row))


def scenario_list():
    text = (REPO / "kernel" / "workload" / "scenario_list.h").read_text()
    return set(re.findall(r'X\(\w+, "([\w-]+)"', text))


def test_every_scenario_is_offered():
    scenarios = scenario_list()
    assert len(scenarios) >= 10
    assert option_values("scenario") == scenarios | {"none"}


def test_the_scenario_table_has_a_row_per_scenario():
    table = README[README.index("| scenario | what it does (stages) |"):]
    table = table[:table.index("\n\n")]
    rows = set(re.findall(r"^\| `([\w-]+)` \|", table, re.M))
    assert rows == scenario_list()


def test_every_pmm_allocator_and_vmm_backend_is_offered():
    text = (REPO / "kernel" / "mm" / "pmm_placement.h").read_text()
    allocators = set(re.findall(r"^\s*X\((\w+), &pmm_\w+_ops\)", text, re.M))
    assert len(allocators) >= 4
    assert option_values("pmm") == allocators
    assert option_values("vmm") == set(FORMAT.values["vmm_backend"].values())
