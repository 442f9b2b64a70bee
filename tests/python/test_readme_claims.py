"""The README's checkable claims hold: every source path it names exists, its analyzer command
lines run on the Python that has the analyzer's dependencies, `make run`'s default arguments are
what it says, and GRUB's memory minimum is the one a boot shows."""

import re
import shutil
import subprocess

import pytest

from conftest import REPO

README = (REPO / "README.md").read_text()
# Paths the README names that are made by a build or live outside the repository.
NOT_IN_THE_REPOSITORY = ("build/", "results/report", "shared/seed/", "results/bench/",
                         "mm/vmstat.c")  # (Linux's, where its fragmentation metrics come from)
# Named relative to the directory of their row in the README's layout table.
RELATIVE = {"include/machine/pte.h": "kernel/arch/amd64"}


def named_paths():
    for token in re.findall(r"`([^`\s]+)`", README):
        if "/" in token and re.fullmatch(r"[\w.-]+(/[\w.-]+)*/?", token) and \
                not token.startswith(NOT_IN_THE_REPOSITORY) and "." in token.split("/")[-1]:
            yield token


def test_every_source_file_the_readme_names_exists():
    paths = sorted(set(named_paths()))
    assert len(paths) > 30, paths
    missing = [p for p in paths if not (REPO / RELATIVE.get(p, "") / p).exists()]
    assert missing == []


def test_the_readme_runs_the_analyzer_on_debians_python():
    """A bare `python3` may be another install without numpy (PyPI is not reachable here)."""
    commands = re.findall(r"^\s*(\S*python3) -m analyzer", README, re.M)
    assert len(commands) >= 7
    assert set(commands) == {"/usr/bin/python3"}, commands


def test_make_run_passes_the_arguments_the_readme_says():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^ARGS\s*\?=\s*$", makefile, re.M)  # no arguments by default
    assert '--args "$(ARGS)"' in makefile
    assert 'with no arguments unless `ARGS=` gives some' in README


def test_grub_needs_the_memory_the_readme_says(tmp_path):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required")
    minimum = int(re.search(r"below (\d+) MiB of guest RAM", README).group(1))
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)

    def boot(mib):
        return subprocess.run([str(REPO / "scripts" / "qemu-run.sh"), "--elf",
                               str(REPO / "build" / "pagescope.elf"), "--mem", f"{mib}M",
                               "--args", "test=arch_tsc", "--serial-log",
                               str(tmp_path / f"{mib}.log")], cwd=REPO, capture_output=True,
                              text=True)
    below, at = boot(minimum - 1), boot(minimum)
    assert below.returncode == 123 and "not enough memory to boot" in below.stderr, below.stderr
    assert at.returncode == 0, at.stderr


def test_peak_mapped_counts_prot_none_reservations_and_says_so():
    """The README: peak mapped bytes count every mapped range, PROT_NONE reservations included."""
    import io

    from analyzer.export.workload import convert, describe
    log = ("100 1.0 mmap(NULL, 1048576, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0)"
           " = 0x7f0000000000\n"
           "100 1.1 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
           " = 0x7f0000200000\n")
    _, report = convert(log, "t")
    assert report.peak_mapped == 1048576 + 4096
    out = io.StringIO()
    describe(report, out)
    assert "PROT_NONE reservations included" in out.getvalue()
    assert "PROT_NONE` reservations included" in README


def test_the_undetectable_mutations_the_readme_lists_are_the_harness_s():
    """The README's list of what `check` cannot notice names exactly the fields that
    test_mutations.py accepts a change of (no more, so the claim is not weaker than the test; no
    fewer, so it is not stronger)."""
    from analyzer.definitions.events import FORMAT
    from test_mutations import CONDITIONAL_FIELDS, UNDETECTABLE_HEADER_FIELDS, UNMODELLED_FIELDS
    start = README.index("Those kinds are:")
    paragraph = " ".join(README[start:README.index("A corrupt", start)].split())
    named = set(re.findall(r"`([\w*]+\.[\w*]+)`", paragraph))
    groups = {"*_fail": [e for e in FORMAT.events_by_name if e.endswith("_fail")],
              "trace_bench": ["trace_bench"], "call_chain": ["call_chain"]}
    whole_events = {"*_fail": "`*_fail` refusal", "trace_bench": "of `trace_bench`",
                    "call_chain": "the return addresses of a `call_chain`"}
    harness = set(UNMODELLED_FIELDS) | {f"header.{f}" for f in UNDETECTABLE_HEADER_FIELDS} | {
        f"{event}.{f}" for event, fields in CONDITIONAL_FIELDS.items() for f in fields}
    harness |= {"header.clock_hz"}  # mutate_header: another plausible frequency
    for group, events in groups.items():
        assert whole_events[group] in paragraph, group
        harness -= {key for key in harness if key.split(".")[0] in events}
    assert named == harness
