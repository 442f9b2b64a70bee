"""Scenarios and workload replay in the real kernel under QEMU: every scenario boots under both
VMM backends at 64 MiB and 2 GiB, exits 0, and its trace passes `analyzer check`; the request
sequence decoded from the two backends' traces is identical, and so is a second boot's with the
same seed (a different seed gives a different one); each committed workload replays with as many
operations of each kind per process as its file holds; a corrupt workload module is refused.
Skipped only when QEMU is not installed."""

import re
import subprocess
import sys

import pytest

from analyzer.definitions import workload_format as wf
from analyzer.reading.bulk import BulkTrace
from analyzer.definitions.events import FORMAT
from analyzer.metrics.progress import requests_issued
from analyzer.reading.reader import TraceReader
from analyzer.checking.replay import check_replay
from analyzer.reading.summary import summarize

from conftest import REPO

pytestmark = pytest.mark.usefixtures("require_qemu")  # missing QEMU fails, never skips
KERNEL = REPO / "build" / "pagescope.elf"
WORKLOADS = sorted((REPO / "benchmarks" / "workloads").glob("*.psw"))
SCENARIOS = ["kheap", "procs", "dma", "fragment", "all"]
BACKEND_INTERNAL_OWNERS = {"pagetable", "mm-meta"}  # what a backend takes for its own bookkeeping
BAD_INPUT = 6


@pytest.fixture(scope="module")
def kernel():
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    return KERNEL


class Boots:
    """Boots the kernel, caching each (args, mem, module) so tests can share runs."""

    def __init__(self, kernel, workdir):
        self.kernel, self.workdir, self.cache = kernel, workdir, {}

    def __call__(self, args, mem, module=None):
        key = (args, mem, str(module))
        if key not in self.cache:
            name = re.sub(r"[^A-Za-z0-9]+", "-", f"{args}-{mem}-{module.name if module else ''}")
            trace, log = self.workdir / f"{name}.pstrace", self.workdir / f"{name}.log"
            cmd = [str(REPO / "scripts" / "qemu-run.sh"), "--elf", str(self.kernel), "--args",
                   f"trace=on {args}", "--mem", mem, "--serial-log", str(log), "--timeout", "300",
                   "--trace-out", str(trace)]
            if module:
                cmd += ["--module", str(module)]
            status = subprocess.run(cmd, cwd=REPO, capture_output=True).returncode
            self.cache[key] = (status, log.read_text(errors="replace"), trace)
        return self.cache[key]


@pytest.fixture(scope="module")
def boot(kernel, tmp_path_factory):
    return Boots(kernel, tmp_path_factory.mktemp("scenario-boots"))


_EVENTS = {}


def events_of(trace):
    """The trace's decoded events (read once: the 2 GiB traces take seconds to decode)."""
    if trace not in _EVENTS:
        if len(_EVENTS) >= 4:  # a test uses at most two; keep memory bounded
            del _EVENTS[next(iter(_EVENTS))]
        _EVENTS[trace] = list(TraceReader.open(trace).events())
    return _EVENTS[trace]


def phase_events(trace, phase):
    """The events between phase_begin(phase) and its phase_end."""
    inside, events = False, []
    for e in events_of(trace):
        name = type(e).__name__
        if name in ("phase_begin", "phase_end") and e.text == phase:
            if inside:
                return events
            inside = True
        elif inside:
            events.append(e)
    raise AssertionError(f"no complete phase {phase!r} in {trace}")


def requests(trace, phase):
    """The allocation requests a scenario made, as sizes, zones, alignments, owners, contexts and
    regions; what a backend allocates for its own bookkeeping is left out (it differs by design)."""
    owners = FORMAT.values["owner"]
    seq = []
    for e in phase_events(trace, phase):
        kind = type(e).__name__
        if kind in ("pmm_alloc", "pmm_alloc_fail") and owners[e.owner] not in BACKEND_INTERNAL_OWNERS:
            seq.append(("pmm", e.pages, e.align_log2, owners[e.owner]))
        elif kind in ("vmm_reserve", "vmm_reserve_fail"):
            seq.append(("vmm", e.context, e.region, e.pages, e.align_log2))
        elif kind in ("kmalloc", "kmalloc_fail"):
            seq.append(("kmalloc", e.requested))
        elif kind in ("context_create", "context_destroy"):
            seq.append((kind, e.context))
        elif kind == "context_switch":
            seq.append((kind, e.from_context, e.to_context))
        elif kind == "replay_op":
            seq.append(("replay", e.pid, e.op, e.addr, e.length))
    return seq


def assert_clean(status, log, trace):
    assert status == 0, log[-3000:]
    summary = summarize(TraceReader.open(trace))
    assert summary.problems == [] and sum(summary.lost.values()) == 0
    report = check_replay(events_of(trace))  # what `analyzer check` runs
    assert report.problems == [] and report.snapshots_checked > 0
    return summary


# `all` is the others in sequence: once at the small size keeps the boot tests' time modest.
@pytest.mark.parametrize("scenario, mem", [(s, m) for s in SCENARIOS for m in ("64M", "2G")
                                           if (s, m) != ("all", "2G")])
def test_scenario_runs_clean_and_both_backends_issue_the_same_requests(boot, scenario, mem):
    runs = {}
    for backend in ("pagetable", "list"):
        status, log, trace = boot(f"scenario={scenario} vmm={backend}", mem)
        summary = assert_clean(status, log, trace)
        assert re.search(rf"scenario {scenario}: \d+ requests, \d+ refused .*, 0 errors", log), log
        phases = [e.text for e in events_of(trace) if type(e).__name__ == "phase_begin"]
        members = SCENARIOS[:-1] if scenario == "all" else [scenario]
        for member in members:  # the scenario and each of its stages are phases
            assert member in phases
            assert len([p for p in phases if p.startswith(member + ":")]) >= 3
        runs[backend] = (trace, summary)
    sequences = {b: requests(t, scenario) for b, (t, _) in runs.items()}
    assert len(sequences["pagetable"]) > 1000
    assert sequences["pagetable"] == sequences["list"]
    # the report's x-axis (analyzer/metrics/progress.py) counts the same requests under both backends,
    # but for one free after each request that only one backend could serve
    issued, refused = {}, 0
    for backend, (trace, _) in runs.items():
        bulk = BulkTrace.open(trace)
        issued[backend] = int(requests_issued(bulk, [len(bulk.headers)])[0])
        refused += sum(len(bulk.of(n)) for n in ("pmm_alloc_fail", "vmm_reserve_fail", "kmalloc_fail"))
    assert issued["pagetable"] > len(sequences["pagetable"])
    assert abs(issued["pagetable"] - issued["list"]) <= refused


@pytest.mark.parametrize("mem", ["64M", "2G"])
def test_fragment_records_the_largest_run_per_zone(boot, mem):
    status, log, trace = boot("scenario=fragment vmm=pagetable", mem)
    assert status == 0
    results = [e for e in events_of(trace) if type(e).__name__ == "fragment_result"]
    assert sorted(r.alloc_zone for r in results) == [0, 1, 2]
    for r in results:
        assert 0 < r.largest_pages <= r.largest_free_extent <= r.free_pages
        assert r.probes > 10
        label = {0: "any", 1: "below-4G", 2: "below-16M"}[r.alloc_zone]
        assert re.search(rf"fragment: {label} +largest run that succeeded +{r.largest_pages} pages",
                         log), log


def test_same_seed_same_requests_different_seed_different(boot):
    first = boot("scenario=kheap vmm=pagetable", "64M")[2]
    again = boot("scenario=kheap vmm=pagetable seed=1", "64M")
    other = boot("scenario=kheap vmm=pagetable seed=2", "64M")
    assert again[0] == 0 and other[0] == 0
    assert requests(first, "kheap") == requests(again[2], "kheap")
    assert requests(first, "kheap") != requests(other[2], "kheap")


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda p: p.stem)
def test_replay_performs_every_operation_of_the_workload(boot, workload):
    expected = wf.read(workload).counts()
    for backend in ("pagetable", "list"):
        status, log, trace = boot(f"scenario=replay vmm={backend}", "512M", workload)
        assert_clean(status, log, trace)
        names = {op.code: op.name for op in wf.WFORMAT.ops_by_code.values()}
        ops = [e for e in events_of(trace) if type(e).__name__ == "replay_op"]
        replayed = {}
        for e in ops:
            replayed[(e.pid, names[e.op])] = replayed.get((e.pid, names[e.op]), 0) + 1
        assert replayed == dict(expected)
        for kind in ("map", "unmap", "brk", "protect"):
            assert sum(n for (_, k), n in expected.items() if k == kind) == \
                sum(n for (_, k), n in replayed.items() if k == kind)
        assert all(e.status == 0 for e in ops), [e for e in ops if e.status][:5]
        assert re.search(rf"replay: workload .*{len(ops)} ops", log), log


def corruptions(data):
    header = wf.WFORMAT.header.size + int.from_bytes(data[28:30], "little")
    truncated = data[:len(data) - 5]
    bad_code = bytearray(data)
    bad_code[header + 200 - 200] = 0  # the first op: code 0 is no op
    bad_pid = bytearray(data)
    bad_pid[header + 4:header + 8] = (7777).to_bytes(4, "little")
    return {"truncated": truncated, "bad-op-code": bytes(bad_code), "bad-process": bytes(bad_pid)}


@pytest.mark.parametrize("kind", ["truncated", "bad-op-code", "bad-process"])
def test_corrupt_workload_module_is_refused_with_its_offset(boot, tmp_path, kind):
    data = corruptions(WORKLOADS[0].read_bytes())[kind]
    with pytest.raises(wf.WorkloadError) as python_view:
        wf.decode(data)
    module = tmp_path / f"{kind}.psw"
    module.write_bytes(data)
    status, log, trace = boot("scenario=replay", "64M", module)
    assert status == BAD_INPUT, log[-2000:]
    assert re.search(rf"refused: workload module {kind}.psw is malformed at byte "
                     rf"{python_view.value.offset}: .*; nothing replayed", log), log
    assert summarize(TraceReader.open(trace)).per_type["replay_op"] == 0


def test_analyzer_check_accepts_a_scenario_trace(boot):
    status, _, trace = boot("scenario=all vmm=list", "64M")
    assert status == 0
    cli = subprocess.run([sys.executable, "-m", "analyzer", "check", str(trace)], cwd=REPO,
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "every snapshot equals the replay" in cli.stdout


def test_replay_without_a_module_is_refused(boot):
    status, log, _ = boot("scenario=replay", "64M")
    assert status == BAD_INPUT
    assert "no workload module" in log


def test_replay_keeps_addresses_places_the_rest_and_reports_refusals(boot, tmp_path):
    """A hand-made workload, one rule per op: a program's address in a user region is kept, one
    outside every region is placed in the mmap region; MAP_FIXED inside an earlier mapping stays
    in its reservation; W^X is refused and recorded; a fork copies; exec starts afresh."""
    base, pie = 0x7F0000000000, 0x555555554000
    rw, rx, rwx = 3, 5, 7
    workload = tmp_path / "rules.psw"
    workload.write_bytes(wf.encode(wf.Workload("rules", 2, [
        wf.op("start", 0, os_pid=10),
        wf.op("map", 0, addr=base, length=0x10000, prot=1, map_flags=0),         # kept
        wf.op("map", 0, addr=base + 0x4000, length=0x4000, prot=rx, map_flags=2),  # in place
        wf.op("map", 0, addr=pie, length=0x2000, prot=rw, map_flags=0),          # placed
        wf.op("map", 0, addr=base + 0x20000, length=0x1000, prot=rwx, map_flags=4),  # W^X
        wf.op("fork", 0, child=1, os_pid=11),
        wf.op("unmap", 1, addr=pie, length=0x2000),
        wf.op("exec", 0),
        wf.op("brk", 0, heap_bytes=0x3000),
        wf.op("exit", 1),
        wf.op("exit", 0),
    ])))
    status, log, trace = boot("scenario=replay", "64M", workload)
    assert_clean(status, log, trace)
    events = [e for e in events_of(trace) if getattr(e, "context", 0) not in (0, 0xFFFF)]
    ops = [e for e in events if type(e).__name__ == "replay_op"]
    assert [e.status for e in ops] == [0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]  # 3: W^X refused
    parent, child = ops[0].context, ops[6].context  # the fork op is the parent's
    reserves = [(e.context, e.addr, e.pages) for e in events if type(e).__name__ == "vmm_reserve"]
    placed = [r for r in reserves if r[0] == parent and r[2] == 2]
    assert (parent, base, 16) in reserves                        # the program's address, once
    assert len([r for r in reserves if r[0] == parent and r[1] == base]) == 1
    assert placed and 0x100000000000 <= placed[0][1] < 0x200000000000  # the mmap region
    assert (child, base, 16) in reserves and (child, placed[0][1], 2) in reserves  # fork copied
    releases = [(e.context, e.addr) for e in events if type(e).__name__ == "vmm_release"]
    assert (child, placed[0][1]) in releases                     # the child's unmap found it
    assert ops[7].context != parent                              # exec: a new context
