"""benchmarks/guest_pair_profile.py counts one step of a guest pmm row instruction by instruction:
booted at 128 MiB (mixed holes, 1 page, trace=off and trace=on), its parts add up to its total,
the tracer's parts appear with tracing on and only then, and the row's own icount figure, from a
boot without gdb, equals the count (every step of that row takes the same path)."""

import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

TRACER_PARTS = ("tracing: call chain", "tracing: clock and cost", "tracing: records")


def profile(trace):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required (make deps installs it)")
    if shutil.which("gdb") is None:
        pytest.fail("gdb is required (Debian package gdb)")
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "guest_pair_profile.py"), "--trace", trace,
         "--pages", "1", "--layout", "mixed-holes", "--mem", "128M"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    total = int(re.search(r"^(\d+) instructions in one step$", done.stdout, re.M).group(1))
    parts = {m.group(2): int(m.group(1))
             for m in re.finditer(r"^\s+(\d+)  (.+)$", done.stdout, re.M)}
    figure = float(re.search(r"as make bench\): ([\d.]+)$", done.stdout, re.M).group(1))
    return total, parts, figure


@pytest.fixture(scope="module")
def profiles():
    return {trace: profile(trace) for trace in ("off", "on")}


def test_parts_add_up_to_the_stepped_total(profiles):
    for trace, (total, parts, _) in profiles.items():
        assert parts and sum(parts.values()) == total, (trace, total, parts)


def test_tracer_parts_appear_with_tracing_on_only(profiles):
    _, off_parts, _ = profiles["off"]
    _, on_parts, _ = profiles["on"]
    assert not any(p in off_parts for p in TRACER_PARTS), off_parts
    assert all(on_parts.get(p, 0) > 0 for p in TRACER_PARTS), on_parts
    assert profiles["on"][0] > profiles["off"][0]


def test_the_stepped_count_is_the_row_figure(profiles):
    for trace, (total, _, figure) in profiles.items():
        assert figure == total, (trace, total, figure)
