"""decode, frag, compare and report on real kernel traces and on synthetic ones: what each prints
or writes, and how each refuses bad input."""

import csv
import io
import re
import json
import struct
import subprocess
import sys

import pytest

from analyzer.definitions.events import FORMAT
from analyzer.reading.bulk import BulkTrace
from analyzer.metrics.compare import requests
from analyzer.reading.reader import TraceReader

from conftest import REPO


def analyzer(*args):
    return subprocess.run([sys.executable, "-m", "analyzer", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True)


# What the README's Analyzer section says each subcommand takes.
DOCUMENTED_ARGUMENTS = {"decode": ["TRACE", "--format", "jsonl", "csv", "--type"],
                        "perfetto": ["TRACE", "-o"], "frag": ["TRACE", "-o"],
                        "compare": ["TRACE_A", "TRACE_B"],
                        "report": ["TRACE", "-o", "--workload", "--results-readme"]}


@pytest.mark.parametrize("command", sorted(DOCUMENTED_ARGUMENTS))
def test_every_subcommand_has_help_naming_its_documented_arguments(command):
    result = analyzer(command, "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith(f"usage: python3 -m analyzer {command} ")
    usage = result.stdout.upper() if command == "compare" else result.stdout
    for argument in DOCUMENTED_ARGUMENTS[command]:
        assert argument in usage, (command, argument, result.stdout)


def test_decode_prints_every_event_the_strict_reader_sees(kernel_traces):
    path = kernel_traces["list"]
    result = analyzer("decode", path, "--raw")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    events = list(TraceReader.open(path).events())
    assert len(lines) == len(events)
    for line, event in zip(lines, events):
        assert line["event"] == type(event).__name__ and line["seq"] == event.seq
        for name in event._fields:
            if name == "items":
                assert [tuple(i.values()) for i in line["items"]] == [tuple(i) for i in event.items]
            elif name != "seq":
                assert line[name] == getattr(event, name), (name, line)


def test_decode_names_values_and_writes_addresses_in_hex(kernel_traces):
    """Without --raw: a pmm_alloc's zone and owner by their events.def names, its address in
    hex; a region by the name its context's table gives it; flags as names joined by |."""
    from analyzer.definitions.events import FORMAT
    path = kernel_traces["pagetable"]
    result = analyzer("decode", path, "--type", "pmm_alloc", "vmm_map", "vmm_reserve")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    trace = BulkTrace.open(path)
    first = trace.of("pmm_alloc")[0]
    alloc = next(line for line in lines if line["event"] == "pmm_alloc")
    assert alloc["addr"] == hex(int(first["addr"]))
    assert alloc["zone"] == FORMAT.values["zone"][int(first["zone"])]
    assert alloc["owner"] == FORMAT.values["owner"][int(first["owner"])]
    reserve = next(line for line in lines if line["event"] == "vmm_reserve"
                   and line["context"] == 0)
    assert reserve["region"] in FORMAT.values["kernel_region"].values()
    mapping = next(line for line in lines if line["event"] == "vmm_map")
    assert set(mapping["flags"].split("|")) <= set(FORMAT.values["vm_flag"].values())


def test_decode_csv_with_type_filter(kernel_traces):
    result = analyzer("decode", kernel_traces["pagetable"], "--format", "csv", "--type",
                      "vmm_reserve", "phase_begin")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    trace = BulkTrace.open(kernel_traces["pagetable"])
    assert {r["event"] for r in rows} == {"vmm_reserve", "phase_begin"}
    assert sum(r["event"] == "vmm_reserve" for r in rows) == len(trace.of("vmm_reserve"))
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    first = next(r for r in rows if r["event"] == "vmm_reserve")
    assert int(first["work"]) == int(trace.of("vmm_reserve")[0]["work"])


def test_decode_refuses_an_unknown_type_as_usage(kernel_traces):
    result = analyzer("decode", kernel_traces["list"], "--type", "no_such_event")
    assert result.returncode == 2 and "no_such_event" in result.stderr


def test_frag_csv_rows_match_the_snapshots(kernel_traces, tmp_path):
    out = tmp_path / "frag.csv"
    result = analyzer("frag", kernel_traces["list"], "-o", out)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    trace = BulkTrace.open(kernel_traces["list"])
    phys = [r for r in rows if r["scope"].startswith("phys:")]
    # a row per change: at each snapshot, every zone's latest row before it sums to its free pages
    for snap in trace.others_named("pmm_snapshot"):
        latest = {}
        for r in phys:
            if int(r["seq"]) <= snap.seq:
                latest[r["scope"]] = int(r["free_pages"])
        assert sum(latest.values()) == snap.free_pages
    for r in phys:
        assert 0 <= float(r["unusable_o9"]) <= 1
        pages = sum(int(r[f"blocks_o{o}"]) << o for o in range(11))
        assert pages == int(r["free_pages"])  # the buddy blocks hold exactly the free pages
    assert any(r["scope"].startswith("virt:ctx0:") for r in rows)


def test_compare_accepts_both_backends_and_prints_work(kernel_traces):
    result = analyzer("compare", kernel_traces["pagetable"], kernel_traces["list"])
    assert result.returncode == 0, result.stderr
    assert "requests    identical" in result.stdout
    reserves = len(BulkTrace.open(kernel_traces["list"]).of("vmm_reserve"))
    assert any(line.split()[:3] == ["vmm_reserve", "list", str(reserves)]
               for line in result.stdout.splitlines())


def test_compare_refuses_different_request_sequences(kernel_traces, tmp_path):
    trace = BulkTrace.open(kernel_traces["list"])
    position, _, _ = requests(trace)[5]
    data = bytearray(kernel_traces["list"].read_bytes())
    offset = int(trace.offsets[position])
    # vmm_reserve: addr u64 at payload 0, pages u32 at payload 8
    at = offset + FORMAT.record_header.size + 8
    pages = struct.unpack_from("<I", data, at)[0]
    struct.pack_into("<I", data, at, pages + 1)
    other = tmp_path / "other.pstrace"
    other.write_bytes(bytes(data))
    # the changed reservation no longer fits the snapshots: the one replay refuses the trace, as
    # `check` does, before any comparison
    result = analyzer("compare", kernel_traces["pagetable"], other)
    assert result.returncode == 3 and result.stderr.startswith(f"error: {other}: offset ")
    assert ": replay: " in result.stderr
    # the comparison itself names the request that differs, where it differs
    from analyzer.metrics.compare import RequestsDiffer, write_comparison
    with pytest.raises(RequestsDiffer) as differ:
        write_comparison(BulkTrace.open(kernel_traces["pagetable"]), BulkTrace.open(other),
                         io.StringIO())
    assert differ.value.offset == offset and differ.value.path == str(other)
    assert str(differ.value).startswith("request 5 differs: ")
    assert f"pages={pages + 1}" in str(differ.value) and f"pages={pages}," in str(differ.value)


def test_report_of_a_synthetic_trace(small_trace, tmp_path):
    """The report holds the trace as given, its Perfetto conversion as `perfetto` writes it, and
    a page that links both and names what ran (the trace's header: command line, build id)."""
    path = tmp_path / "small.pstrace"
    path.write_bytes(small_trace)
    result = analyzer("report", path, "-o", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {tmp_path / 'r' / 'index.html'}\n"
    report = tmp_path / "r"
    assert (report / "small.pstrace").read_bytes() == small_trace
    alone = analyzer("perfetto", path, "-o", tmp_path / "alone.pftrace")
    assert alone.returncode == 0, alone.stderr
    assert (report / "small.pftrace").read_bytes() == (tmp_path / "alone.pftrace").read_bytes()
    page = (report / "index.html").read_text()
    assert "href='small.pftrace'" in page and "href='small.pstrace'" in page
    ran = re.split(r"<h2[^>]*>What ran</h2>", page, maxsplit=1)[1].split("<h2", 1)[0]
    header = TraceReader(small_trace).header
    assert f"<td>{header.cmdline}</td>" in ran and f"<td>{header.build_id}</td>" in ran


@pytest.mark.parametrize("command", ["decode", "perfetto", "frag", "report"])
def test_unreadable_trace_is_exit_4(command, tmp_path):
    extra = [] if command == "decode" else ["-o", tmp_path / "out"]
    result = analyzer(command, tmp_path / "missing.pstrace", *extra)
    assert result.returncode == 4
    assert result.stderr == (f"error: {tmp_path / 'missing.pstrace'}: cannot read trace: "
                             "No such file or directory\n")
    assert not (tmp_path / "out").exists()
