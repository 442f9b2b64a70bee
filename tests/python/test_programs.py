"""`analyzer programs`, the per-process Perfetto tracks and the report's real-program section, on
program runs written with the kernel's own encoders (tests/python/process_streams.py). Expected
figures are counted here from the records the test wrote, never taken from the analyzer."""

import math
import re
import subprocess
import sys
from collections import Counter

import pytest

from analyzer.reading.bulk import BulkTrace
from analyzer.definitions.events import FORMAT
from analyzer.metrics.state import replay
from analyzer.export.perfetto import semantic_problems, to_perfetto
from analyzer.export.perfetto_proto import pb
from analyzer.definitions.syscalls import SYSCALL_NAMES
from conftest import REPO
from process_streams import typical_run, write_trace
from test_perfetto import protoc_decode

OUTCOMES = FORMAT.values["fault_outcome"]
ENOSYS_RESULT = (1 << 64) - 38


def analyzer(*args):
    return subprocess.run([sys.executable, "-m", "analyzer", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def run():
    return typical_run()


@pytest.fixture(scope="module")
def traces(build_encoder, tmp_path_factory, run):
    work = tmp_path_factory.mktemp("programs")
    return {backend: write_trace(build_encoder, run, work / f"{backend}.pstrace", backend)
            for backend in ("pagetable", "list")}


def records(run, name, **match):
    return [v for n, v, _ in run.records
            if n == name and all(v[k] == x for k, x in match.items())]


def call_name(number):
    return SYSCALL_NAMES.get(number, f"syscall_{number}")


def nearest_rank(values, percent):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def block(text, heading):
    """The lines of `programs` output under the line starting with heading, to a blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


def test_check_accepts_the_encoded_runs_and_counts_process_events(traces, run):
    for path in traces.values():
        result = analyzer("check", path)
        assert result.returncode == 0, result.stderr
        expected = sum(len(records(run, n)) for n in
                       ("process_start", "process_exit", "page_fault", "syscall"))
        assert f"processes   {expected} process starts" in result.stdout


def test_programs_prints_each_process_figures(traces, run):
    result = analyzer("programs", traces["list"])
    assert result.returncode == 0, result.stderr
    assert "backend     list" in result.stdout
    assert "ticks       guest instructions" in result.stdout
    for pid in sorted({v["pid"] for v in records(run, "process_start")}):
        text = block(result.stdout, f"pid {pid} ")
        calls = Counter(call_name(v["number"]) for v in records(run, "syscall", pid=pid))
        unsupported = Counter(call_name(v["number"]) for v in records(run, "syscall", pid=pid)
                              if v["result"] == ENOSYS_RESULT)
        faults = Counter(OUTCOMES[v["outcome"]] for v in records(run, "page_fault", pid=pid))
        for label, counts in (("syscalls", calls), ("unsupported", unsupported),
                              ("faults", faults)):
            line = next(x for x in text.splitlines() if x.strip().startswith(label))
            assert f" {sum(counts.values())}" in line
            for name, n in counts.items():
                assert f"{name} {n}" in line, (label, name, line)
        resident = records(run, "process_resident", pid=pid)
        assert f"resident {max(v['resident_pages'] for v in resident):,} " in text
        assert f"reserved {max(v['reserved_pages'] for v in resident):,} " in text
        ticks = [v["ticks"] for v in records(run, "page_fault", pid=pid)]
        assert (f"median {nearest_rank(ticks, 50):,}, p99 {nearest_rank(ticks, 99):,}, "
                f"max {max(ticks):,} guest instructions (n = {len(ticks)};") in text


def test_programs_names_each_unsupported_call_once_per_process(traces):
    out = analyzer("programs", traces["pagetable"]).stdout
    line = next(x for x in block(out, "pid 1 ").splitlines() if "unsupported" in x)
    assert "rt_sigtimedwait 1" in line and "syscall_9999 1" in line and "brk" not in line


def test_ticks_are_not_called_instructions_off_icount(build_encoder, tmp_path, run):
    path = write_trace(build_encoder, run, tmp_path / "tsc.pstrace", clock_hz=2_500_000_000)
    out = analyzer("programs", path).stdout
    assert "ticks       TSC ticks" in out and "guest instructions" not in out


def test_programs_of_a_trace_without_processes_says_so(small_trace, tmp_path):
    path = tmp_path / "small.pstrace"
    path.write_bytes(small_trace)
    result = analyzer("programs", path)
    assert result.returncode == 0 and "processes   none" in result.stdout


def test_programs_refuses_a_truncated_trace(traces, tmp_path):
    data = traces["list"].read_bytes()
    cut = tmp_path / "cut.pstrace"
    cut.write_bytes(data[:len(data) // 2])
    result = analyzer("programs", cut)
    assert result.returncode == 3 and result.stderr.startswith(f"error: {cut}: offset ")


def test_perfetto_has_a_track_per_process_with_its_calls_faults_and_counters(traces, run):
    trace = BulkTrace.open(traces["pagetable"])
    data = to_perfetto(trace, replay(trace))
    protoc_decode(data)
    assert semantic_problems(data) == []
    decoded = pb.Trace()
    decoded.ParseFromString(data)
    tracks = {p.track_descriptor.uuid: p.track_descriptor.name for p in decoded.packet
              if p.HasField("track_descriptor")}
    slices = Counter()
    counters = Counter()
    for p in decoded.packet:
        e = p.track_event
        if p.HasField("track_event") and e.type == pb.TrackEvent.TYPE_SLICE_BEGIN and \
                tracks[e.track_uuid].startswith("pid "):
            slices[(tracks[e.track_uuid].split()[1], e.name, tuple(e.categories))] += 1
        if p.HasField("track_event") and e.type == pb.TrackEvent.TYPE_COUNTER:
            counters[tracks[e.track_uuid]] += 1
    expected = Counter()
    for v in records(run, "syscall"):
        expected[(str(v["pid"]), call_name(v["number"]), ("syscall",))] += 1
    for v in records(run, "page_fault"):
        expected[(str(v["pid"]), OUTCOMES[v["outcome"]], ("page_fault",))] += 1
    assert slices == expected
    for pid in {v["pid"] for v in records(run, "process_start")}:
        assert any(re.fullmatch(f"resident pages pid {pid} .*", t) for t in counters)
        assert any(re.fullmatch(f"reserved pages pid {pid} .*", t) for t in counters)


def test_report_has_a_real_program_section_with_both_backends(traces, tmp_path):
    out = tmp_path / "report"
    result = analyzer("report", traces["pagetable"], "--program", f"hello={traces['pagetable']}",
                      "--program", f"hello={traces['list']}", "-o", out)
    assert result.returncode == 0, result.stderr
    page = (out / "index.html").read_text()
    assert "<h2 id='programs'>Real programs</h2>" in page
    section = page.split("<h2 id='programs'>", 1)[1]
    assert "<th>pagetable</th><th>list</th>" in section
    for plot in ("memory", "fault_rate", "fault_ticks", "bookkeeping", "syscalls"):
        png = out / f"program_hello_{plot}.png"
        assert png.stat().st_size > 5000 and f"src='program_hello_{plot}.png'" in section
    assert "rt_sigtimedwait" in section and "guest instructions" in section
    for backend in ("pagetable", "list"):
        copy = out / f"program_hello_{backend}.pstrace"
        assert copy.read_bytes() == traces[backend].read_bytes()
        assert f"href='program_hello_{backend}.pftrace'" in section
        assert semantic_problems((out / f"program_hello_{backend}.pftrace").read_bytes()) == []


def test_programs_compares_the_calls_and_faults_of_both_backends(traces, build_encoder, tmp_path,
                                                                  run):
    same = analyzer("programs", traces["pagetable"], traces["list"]).stdout
    calls_and_faults = len(records(run, "syscall")) + len(records(run, "page_fault"))
    assert f"makes the same {calls_and_faults} calls and faults" in same
    other = typical_run()
    fault = next(v for n, v, _ in other.records if n == "page_fault")
    fault["addr"] += 8  # the same page: still consistent, but another address
    path = write_trace(build_encoder, other, tmp_path / "other.pstrace", "list")
    assert analyzer("check", path).returncode == 0
    differs = analyzer("programs", traces["pagetable"], path).stdout
    assert f"addr={fault['addr']:#x}" in differs and "differs from" in differs
