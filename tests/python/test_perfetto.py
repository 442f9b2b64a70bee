"""Every .pftrace the analyzer writes decodes against Perfetto's official schema (protoc) and
passes the project's semantic checks; its tracks, events and counters are where they should be."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.reading.bulk import BulkTrace
from analyzer.metrics.state import replay
from analyzer.export.perfetto import (EVENT_ANNOTATIONS, OWNER_NAMES, instant_packets,
                               semantic_problems, to_perfetto)
from analyzer.definitions.perfetto_wire import row_bytes
from analyzer.export.perfetto_proto import pb

from conftest import REPO

# Perfetto's official schema is kept outside the project, never in it: in $PERFETTO_REFERENCE_DIR,
# else in shared/reference beside the checkout (or beside the workplace's main checkout, /work).
_CANDIDATES = ([Path(os.environ["PERFETTO_REFERENCE_DIR"])] if "PERFETTO_REFERENCE_DIR" in os.environ
               else []) + [d / "shared" / "reference" for d in (*REPO.parents, Path("/work"))]
REFERENCE = next((d for d in _CANDIDATES if (d / "perfetto_trace.proto").exists()), None)


def protoc_decode(data):
    """The text form protoc makes of data as perfetto.protos.Trace (fails on wire/type errors)."""
    assert REFERENCE is not None, ("Perfetto's perfetto_trace.proto not found: set "
                                   "PERFETTO_REFERENCE_DIR or put it in shared/reference beside "
                                   "the checkout")
    result = subprocess.run(["protoc", "--decode=perfetto.protos.Trace", f"-I{REFERENCE}",
                             "perfetto_trace.proto"], input=data, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def convert(path):
    trace = BulkTrace.open(path)
    return trace, to_perfetto(trace, replay(trace))


@pytest.mark.parametrize("backend", ["pagetable", "list"])
def test_kernel_trace_converts_to_valid_perfetto(kernel_traces, backend, tmp_path):
    out = tmp_path / "t.pftrace"
    cli = subprocess.run([sys.executable, "-m", "analyzer", "perfetto", str(kernel_traces[backend]),
                          "-o", str(out)], cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    data = out.read_bytes()
    text = protoc_decode(data)
    assert 'process_name: "pagescope kernel"' in text
    assert semantic_problems(data) == []

    trace = BulkTrace.open(kernel_traces[backend])
    parsed = pb.Trace.FromString(data)
    tracks = {p.track_descriptor.uuid: p.track_descriptor for p in parsed.packet
              if p.HasField("track_descriptor")}
    def path(d):  # a track's name with its parents' below the process: "context 0/vmm"
        parent = tracks.get(d.parent_uuid)
        return d.name if parent is None or parent.uuid == 1 else \
            path(parent).split("/", 1)[-1] + "/" + d.name if parent.name.startswith("context ") \
            else d.name
    names = {path(d) for d in tracks.values()}
    for expected in ("pmm", "page tables", "phases", "context 0/vmm", "free pages dma32",
                     "unusable index order 9 dma32", "page-table pages", "kmalloc bytes"):
        assert expected in names, expected
    by_name = {path(d): uuid for uuid, d in tracks.items()}
    instants = [p.track_event for p in parsed.packet
                if p.HasField("track_event") and p.track_event.type == pb.TrackEvent.TYPE_INSTANT]
    on_pmm = [e for e in instants if e.track_uuid == by_name["pmm"]]
    assert len(on_pmm) == sum(len(trace.of(n)) for n in ("pmm_alloc", "pmm_free",
                                                         "pmm_alloc_fail"))
    # the kernel's bookkeeping figures arrive unchanged on each context's counter track (one per
    # change); a context that only ever reported 0 has no track
    reported = trace.of("vmm_bookkeeping")
    destroyed = trace.of("context_destroy")
    shown = 0
    for context in sorted(set(reported["context"].tolist())):
        # what it reported, and 0 from each of its destructions on (a dead context holds none)
        mine = reported[reported["context"] == context]
        steps = sorted([(p, v) for p, v in zip(mine["position"].tolist(), mine["bytes"].tolist())]
                       + [(p, 0) for p in destroyed["position"][destroyed["context"] == context]
                          .tolist()])
        values = [v for _, v in steps]
        name = f"context {context}/bookkeeping bytes"
        if not any(values):
            assert name not in by_name
            continue
        counter = [p.track_event.counter_value for p in parsed.packet
                   if p.HasField("track_event") and p.track_event.track_uuid == by_name[name]]
        assert counter == [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]
        shown += 1
    if backend == "list":  # the page-table backend's in-kernel tests hold no bookkeeping pages
        assert shown > 0
    begins = sum(1 for p in parsed.packet if p.HasField("track_event") and
                 p.track_event.type == pb.TrackEvent.TYPE_SLICE_BEGIN)
    assert begins == len(trace.others_named("phase_begin"))


def test_first_pmm_alloc_carries_linux_kmem_field_names(kernel_traces):
    trace, data = convert(kernel_traces["pagetable"])
    parsed = pb.Trace.FromString(data)
    interned = next(p.interned_data for p in parsed.packet if p.HasField("interned_data"))
    annotation = {a.iid: a.name for a in interned.debug_annotation_names}
    event_name = {e.iid: e.name for e in interned.event_names}
    first = trace.of("pmm_alloc")[0]
    event = next(p.track_event for p in parsed.packet if p.HasField("track_event") and
                 event_name.get(p.track_event.name_iid) == "pmm_alloc")
    values = {annotation[d.name_iid]: d for d in event.debug_annotations}
    assert values["pfn"].uint_value == int(first["addr"]) >> 12
    assert values["nr_pages"].uint_value == int(first["pages"])
    assert values["owner"].string_value  # an owner name, not a number


@pytest.mark.parametrize("backend", ["pagetable", "list"])
def test_bulk_encoder_writes_what_python_protobuf_writes(kernel_traces, backend):
    """Every instant event of a real trace, encoded in bulk, is byte for byte the packet
    python-protobuf serializes from the same fields."""
    trace = BulkTrace.open(kernel_traces[backend])
    time_of = trace.time_ns(trace.headers["timestamp"]).astype("int64")
    checked = 0
    for name, (_, spec) in EVENT_ANNOTATIONS.items():
        a = trace.of(name)
        if not len(a):
            continue
        columns = [(n + 1, kind, column(a) if callable(column) else a[column])
                   for n, (_, column, kind) in enumerate(spec)]
        uuids = a["position"] % 7 + 2
        times = time_of[a["position"]]
        bulk = instant_packets(3, times, uuids, columns)
        for i in range(len(a)):
            p = pb.TracePacket(timestamp=int(times[i]), trusted_packet_sequence_id=1,
                               sequence_flags=2)
            e = p.track_event
            e.type, e.track_uuid, e.name_iid = pb.TrackEvent.TYPE_INSTANT, int(uuids[i]), 3
            for iid, kind, values in columns:
                d = e.debug_annotations.add(name_iid=iid)
                if kind == "u":
                    d.uint_value = int(values[i])
                elif kind == "p":
                    d.pointer_value = int(values[i])
                else:
                    d.string_value = OWNER_NAMES[int(values[i])]
            assert row_bytes(bulk, i) == p.SerializeToString(), (name, i)
            checked += 1
    assert checked == sum(len(trace.of(n)) for n in EVENT_ANNOTATIONS)


def test_bulk_counters_write_what_python_protobuf_writes():
    from analyzer.export.perfetto import _Writer
    w = _Writer()
    w.counter(9, [0, 5, 5, 300], [1.5, 1.5, -2.25, 0.0])
    w.counter(10, [1, 2, 2**40], [-1, 2**62, 7])
    rows = [row_bytes(c, i) for c, _ in w.bulk for i in range(c.rows)]
    expected = []
    for uuid, pairs, field in ((9, [(0, 1.5), (5, -2.25), (300, 0.0)], "double_counter_value"),
                               (10, [(1, -1), (2, 2**62), (2**40, 7)], "counter_value")):
        for t, v in pairs:
            p = pb.TracePacket(timestamp=t, trusted_packet_sequence_id=1)
            p.track_event.type, p.track_event.track_uuid = pb.TrackEvent.TYPE_COUNTER, uuid
            setattr(p.track_event, field, v)
            expected.append(p.SerializeToString())
    assert rows == expected


def test_synthetic_trace_converts_to_valid_perfetto(small_trace, tmp_path):
    path = tmp_path / "small.pstrace"
    path.write_bytes(small_trace)
    _, data = convert(path)
    protoc_decode(data)
    assert semantic_problems(data) == []


def test_semantic_checks_catch_what_protoc_cannot():
    trace = pb.Trace()
    event = trace.packet.add(timestamp=5, trusted_packet_sequence_id=1).track_event
    event.type, event.track_uuid = pb.TrackEvent.TYPE_SLICE_END, 42
    trace.packet.add(timestamp=3, trusted_packet_sequence_id=1)
    counter = trace.packet.add(trusted_packet_sequence_id=1).track_descriptor
    counter.uuid, counter.name = 7, "no unit"
    counter.counter.SetInParent()
    problems = " | ".join(semantic_problems(trace.SerializeToString()))
    assert "undeclared track 42" in problems
    assert "slice end without a begin" in problems
    assert "goes back" in problems
    assert "has no unit" in problems
