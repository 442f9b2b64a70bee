"""The guest benchmark's trace can be analyzed: scenario=bench booted with tracing on (128 MiB,
QEMU -icount, each VMM backend) exits 0, prints its pmm and vmm rows with no failed request, and
`python3 -m analyzer check` passes its trace, having held every page the benchmark mapped to the
pmm's live allocations (at 128 MiB the vmm rows run at 1,000, 10,000 and 100,000 mapped pages, so
check must have looked at at least 111,000 mappings). Fails (never skips) without QEMU."""

import re
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.usefixtures("require_qemu")
MEM = "128M"
# scenario_bench.c's bench_mapped counts whose page tables take under 1/64 of 128 MiB.
MAPPED_AT_128M = 1_000 + 10_000 + 100_000


@pytest.fixture(scope="module")
def bench_traces(tmp_path_factory):
    """{backend: (status, serial log text, trace path)} of one traced scenario=bench boot each."""
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    work = tmp_path_factory.mktemp("bench-trace")
    boots = {}
    for backend in ("pagetable", "list"):
        trace, log = work / f"{backend}.pstrace", work / f"{backend}.log"
        status = subprocess.run(
            [str(REPO / "scripts" / "qemu-run.sh"), "--elf", str(REPO / "build" / "pagescope.elf"),
             "--args", f"scenario=bench vmm={backend} trace=on", "--mem", MEM, "--icount",
             "--timeout", "300", "--serial-log", str(log), "--trace-out", str(trace)],
            cwd=REPO, capture_output=True).returncode
        boots[backend] = (status, log.read_text(errors="replace"), trace)
    return boots


@pytest.mark.parametrize("backend", ["pagetable", "list"])
def test_traced_bench_runs_every_row_without_failure(bench_traces, backend):
    status, log, _ = bench_traces[backend]
    assert status == 0, log[-2000:]
    rows = [line.split(",") for line in log.splitlines() if re.match(r"bench-guest: (pmm|vmm),", line)]
    assert any(r[0] == "bench-guest: pmm" for r in rows), log[-2000:]
    assert any(r[0] == "bench-guest: vmm" for r in rows), log[-2000:]
    assert all(r[-1] == "0" for r in rows), [r for r in rows if r[-1] != "0"]


@pytest.mark.parametrize("backend", ["pagetable", "list"])
def test_traced_bench_passes_analyzer_check(bench_traces, backend):
    status, log, trace = bench_traces[backend]
    assert status == 0, log[-2000:]
    done = subprocess.run([sys.executable, "-m", "analyzer", "check", str(trace)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "every snapshot equals the replay" in done.stdout, done.stdout
    mappings = re.search(r"^pages\s+(\d+) mappings' physical pages held", done.stdout, re.M)
    assert mappings, done.stdout
    assert int(mappings.group(1)) >= MAPPED_AT_128M, done.stdout
