"""The guest benchmark (scenario=bench under QEMU -icount) is deterministic: two runs of the same
small configuration (128 MiB, both vmm= backends, trace=off and trace=on) write byte-identical
results/bench/guest-*.csv files, and those files hold real figures: every backend and trace mode
present, positive instruction counts, two records per pmm pair with tracing on (the pmm_alloc,
whose call chain the warm-up step defined, and the pmm_free) and none with it off, and the same
workloads in both trace modes."""

import csv
import subprocess
import sys

import pytest

from conftest import REPO

GUEST_FILES = ("guest-pmm.csv", "guest-vmm.csv", "guest-tracing.csv")


def guest_run(out):
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run_bench.py"), "--guest-only",
         "--guest-mem", "128M", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {name: (out / name).read_bytes() for name in GUEST_FILES}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    return (guest_run(tmp_path_factory.mktemp("guest1")),
            guest_run(tmp_path_factory.mktemp("guest2")))


def test_two_runs_write_identical_guest_csvs(two_runs):
    first, second = two_runs
    for name in GUEST_FILES:
        assert first[name] == second[name], f"{name} differs between two runs"


def test_guest_csvs_hold_figures_for_both_backends_and_trace_modes(two_runs):
    files = {name: list(csv.DictReader(data.decode().splitlines()))
             for name, data in two_runs[0].items()}
    pmm = files["guest-pmm.csv"]
    assert {(r["vmm"], r["trace"]) for r in pmm} == {
        ("pagetable", "off"), ("pagetable", "on"), ("list", "off"), ("list", "on")}
    assert {r["layout"] for r in pmm} == {"best-as-booted", "mixed-holes"}
    for r in pmm:
        assert float(r["instructions_per_pair"]) > 50, r
        assert float(r["events_per_pair"]) == (2.0 if r["trace"] == "on" else 0.0), r
        assert r["failed_allocs"] == "0", r
    vmm = files["guest-vmm.csv"]
    assert {r["operation"] for r in vmm} == {"reserve-release", "reserve-map-unmap-release",
                                             "aligned-reserve-release", "brk-grow", "brk-shrink"}
    assert all(r["failed"] == "0" for r in vmm), [r for r in vmm if r["failed"] != "0"]
    assert all(float(r["instructions_per_step"]) > 100 for r in vmm)
    tracing = files["guest-tracing.csv"]
    assert len(tracing) * 2 == len(pmm) + len(vmm)
    for r in tracing:
        assert float(r["instructions_trace_on"]) > float(r["instructions_trace_off"]), r
