"""Writes a trace as a Perfetto trace (native protobuf TracePackets) that ui.perfetto.dev opens.

Layout: one process "pagescope kernel"; under it a track per allocator (pmm, page tables, slab,
kmalloc, contexts, and a vmm track per address-space context) with an instant event per
operation, whose debug annotations reuse Linux's kmem tracepoint field names where one exists
(pfn, order, nr_pages, bytes_req, bytes_alloc, ptr, zone, owner); a "phases" track with a slice
per workload phase; a "trace" track with a marker wherever events were lost; counter tracks (each
with its unit) for free pages, free extents, largest free extent and Linux's unusable free space
index at orders 0, 3 and 9 per zone, page-table pages, bookkeeping bytes per context, slab and
kmalloc bytes, and mapped pages per context; per user process a track of its system calls and
page faults and counters of its resident and reserved pages (analyzer/export/perfetto_processes.py).

Every packet is on one sequence (id 1). The first packet clears incremental state and interns
every event name and annotation name; the others refer to them by iid. Packets are written in
timestamp order (a stable sort, so events of equal time keep stream order). Timestamps are ns
since the first clock reading of the trace, converted with the header's clock_hz (instruction
counts under icount, where clock_hz is 1e9).
"""

import numpy as np

from ..metrics import counters
from ..definitions.events import FORMAT, PAGE, PAGE_SHIFT
from ..metrics.frag import region_name
from ..definitions import perfetto_wire as wire
from .perfetto_processes import add_process_tracks
from .perfetto_proto import pb

SEQUENCE = 1
PROCESS_UUID, PID = 1, 1
SEQ_INCREMENTAL_STATE_CLEARED, SEQ_NEEDS_INCREMENTAL_STATE = 1, 2
UNUSABLE_ORDERS = (0, 3, 9)
# Perfetto's built-in units; any other unit is sent as unit_name alone (Perfetto ignores
# unit_name whenever a built-in unit is set, so "pages" would show as "count").
BUILTIN_UNITS = {"bytes": pb.CounterDescriptor.UNIT_SIZE_BYTES,
                 "count": pb.CounterDescriptor.UNIT_COUNT}


def _pfn(a, name):
    return a[name] >> np.uint64(PAGE_SHIFT)


def _page_bytes(a):
    """The mapping's page size in bytes (page_size is 0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB)."""
    return np.left_shift(np.uint64(PAGE), (9 * a["page_size"].astype(np.uint64)))


def _order(a):
    """Linux's order of a request of nr_pages: the smallest o with 2^o >= pages."""
    pages = np.maximum(a["pages"].astype(np.float64), 1)
    return np.ceil(np.log2(pages)).astype(np.int64)


OWNER_NAMES = [FORMAT.values["owner"].get(i, str(i)) for i in range(256)]


def _owner(a):
    """Owner tags; their names are OWNER_NAMES (a string annotation)."""
    return a["owner"]


# event -> (track, [(annotation name, column function, value kind)])
# kinds: "u" uint_value, "p" pointer_value, "s" string_value
EVENT_ANNOTATIONS = {
    "pmm_alloc": ("pmm", [("pfn", lambda a: _pfn(a, "addr"), "u"), ("nr_pages", "pages", "u"),
                          ("order", _order, "u"), ("align_log2", "align_log2", "u"),
                          ("zone", "zone", "u"), ("owner", _owner, "s")]),
    "pmm_free": ("pmm", [("pfn", lambda a: _pfn(a, "addr"), "u"), ("nr_pages", "pages", "u"),
                         ("order", _order, "u"), ("zone", "zone", "u"), ("owner", _owner, "s")]),
    "pmm_alloc_fail": ("pmm", [("nr_pages", "pages", "u"), ("order", _order, "u"),
                               ("alloc_zone", "alloc_zone", "u"), ("owner", _owner, "s")]),
    "vmm_reserve": ("vmm", [("addr", "addr", "p"), ("nr_pages", "pages", "u"), ("work", "work", "u"),
                            ("region", "region", "u"), ("align_log2", "align_log2", "u")]),
    "vmm_release": ("vmm", [("addr", "addr", "p"), ("nr_pages", "pages", "u"), ("work", "work", "u"),
                            ("region", "region", "u")]),
    "vmm_reserve_fail": ("vmm", [("nr_pages", "pages", "u"), ("work", "work", "u"),
                                 ("region", "region", "u"), ("align_log2", "align_log2", "u")]),
    "vmm_map": ("vmm", [("addr", "virt", "p"), ("pfn", lambda a: _pfn(a, "phys"), "u"),
                        ("page_bytes", _page_bytes, "u"), ("flags", "flags", "u")]),
    "vmm_unmap": ("vmm", [("addr", "virt", "p"), ("pfn", lambda a: _pfn(a, "phys"), "u"),
                          ("page_bytes", _page_bytes, "u"), ("flags", "flags", "u")]),
    "vmm_protect": ("vmm", [("addr", "virt", "p"), ("pfn", lambda a: _pfn(a, "phys"), "u"),
                            ("page_bytes", _page_bytes, "u"), ("flags", "flags", "u")]),
    "pt_alloc": ("page tables", [("pfn", lambda a: _pfn(a, "phys"), "u"), ("level", "level", "u"),
                                 ("context", "context", "u")]),
    "pt_free": ("page tables", [("pfn", lambda a: _pfn(a, "phys"), "u"), ("level", "level", "u"),
                                ("context", "context", "u")]),
    "slab_alloc": ("slab", [("ptr", "object", "p"), ("cache", "cache", "u")]),
    "slab_free": ("slab", [("ptr", "object", "p"), ("cache", "cache", "u")]),
    "kmalloc": ("kmalloc", [("ptr", "ptr", "p"), ("bytes_req", "requested", "u"),
                            ("bytes_alloc", "given", "u")]),
    "kfree": ("kmalloc", [("ptr", "ptr", "p"), ("bytes_alloc", "given", "u")]),
    "kmalloc_fail": ("kmalloc", [("bytes_req", "requested", "u")]),
    "context_create": ("contexts", [("context", "context", "u"),
                                    ("root_pfn", lambda a: _pfn(a, "root"), "u")]),
    "context_destroy": ("contexts", [("context", "context", "u")]),
    "context_switch": ("contexts", [("from_context", "from_context", "u"),
                                    ("to_context", "to_context", "u")]),
}
LOSS_NAME = "events lost"


class _Writer:
    def __init__(self):
        self.chunks = []  # serialized TracePacket bytes
        self.times = []  # their timestamps (-1: descriptors and interning, written first)
        self.bulk = []  # (Column of serialized TracePackets, their timestamps)
        self.next_uuid = PROCESS_UUID + 1
        self.tracks = {}

    def packet(self, message, time=None):
        self.chunks.append(message.SerializeToString())
        self.times.append(-1 if time is None else time)

    def track(self, name, unit=None, parent=None):
        """The uuid of a track named `name` under `parent` (a track uuid; default: the process),
        a counter track when unit is given: a built-in Perfetto unit, or else the unit's name."""
        key = (name, parent)
        if key in self.tracks:
            return self.tracks[key]
        uuid = self.next_uuid
        self.next_uuid += 1
        p = pb.TracePacket(trusted_packet_sequence_id=SEQUENCE)
        d = p.track_descriptor
        d.uuid, d.name, d.parent_uuid = uuid, name, parent or PROCESS_UUID
        if unit in BUILTIN_UNITS:
            d.counter.unit = BUILTIN_UNITS[unit]
        elif unit is not None:
            d.counter.unit_name = unit
        self.packet(p)
        self.tracks[key] = uuid
        return uuid

    def context_track(self, context):
        """The parent track that groups everything of one address-space context; they all sit
        under the "contexts" track (creations, destructions, switches), so hundreds of
        contexts stay one line under the process until it is expanded."""
        return self.track(f"context {context}", parent=self.track("contexts"))

    def counter_track(self, name, unit, times, values, parent=None):
        """A counter track with an event wherever the value changes, made only when it has
        something to show: a track whose value is 0 throughout is left out."""
        values = np.asarray(values)
        if not len(values) or not values.any():
            return
        self.counter(self.track(name, unit, parent), times, values)

    def counter(self, uuid, times, values):
        """Counter events on a counter track, one where the value changes (and the first)."""
        times, values = np.asarray(times, dtype=np.int64), np.asarray(values)
        if not len(values):
            return
        changed = np.concatenate([[True], values[1:] != values[:-1]])
        times, values = times[changed], values[changed]
        te, n = pb.TrackEvent, len(times)
        if values.dtype.kind == "f":
            key = wire.tag(wire.field_number(te, "double_counter_value"), wire.WIRE_FIXED64)
            value = wire.concat([wire.constant_column(key, n), wire.fixed64_column(values)])
        else:
            value = wire.varint_field(te, "counter_value", values.astype(np.int64))
        event = wire.concat([wire.varint_field(te, "type", np.full(n, te.TYPE_COUNTER)),
                             wire.varint_field(te, "track_uuid", np.full(n, uuid)), value])
        packet = pb.TracePacket
        self.bulk.append((wire.concat([
            wire.varint_field(packet, "timestamp", times),
            wire.varint_field(packet, "trusted_packet_sequence_id", np.full(n, SEQUENCE)),
            wire.message_field(packet, "track_event", event)]), times))

    def serialized(self):
        """The Trace: descriptors and interning first, then every other packet in timestamp
        order (a stable sort: equal times keep the order they were made in). Each packet is
        framed as Trace field 1 (length-delimited)."""
        key = wire.tag(wire.field_number(pb.Trace, "packet"), wire.WIRE_LEN)
        framed = [key + wire._varint_bytes(len(c)) + c for c in self.chunks]
        head = b"".join(f for f, t in zip(framed, self.times) if t < 0)
        timed = [i for i, t in enumerate(self.times) if t >= 0]
        columns, keys = [], []
        if timed:
            columns.append(wire.lookup_column([framed[i] for i in timed], np.arange(len(timed))))
            keys.append(np.array([self.times[i] for i in timed], dtype=np.int64))
        for column, times in self.bulk:
            columns.append(wire.message_field(pb.Trace, "packet", column))
            keys.append(np.asarray(times, dtype=np.int64))
        return head + (wire.interleave(columns, keys) if columns else b"")


def to_perfetto(trace, series):
    """The Perfetto trace (bytes) of a BulkTrace and its state.State (the one replay)."""
    w = _Writer()
    process = pb.TracePacket(trusted_packet_sequence_id=SEQUENCE)
    process.track_descriptor.uuid = PROCESS_UUID
    process.track_descriptor.process.pid = PID
    process.track_descriptor.process.process_name = "pagescope kernel"
    w.packet(process)

    event_iids = {}
    annotation_iids = {}
    names = [n for n in EVENT_ANNOTATIONS if n in trace.fixed] + [LOSS_NAME]
    for name in names:
        event_iids[name] = len(event_iids) + 1
        for annotation, _, _ in EVENT_ANNOTATIONS.get(name, (None, []))[1]:
            annotation_iids.setdefault(annotation, len(annotation_iids) + 1)
    for annotation in ("count", "reason"):
        annotation_iids.setdefault(annotation, len(annotation_iids) + 1)
    uuid = pb.TracePacket(trusted_packet_sequence_id=SEQUENCE)
    uuid.trace_uuid.msb, uuid.trace_uuid.lsb = trace_uuid(trace.data)
    w.packet(uuid)
    interning = pb.TracePacket(trusted_packet_sequence_id=SEQUENCE,
                               sequence_flags=SEQ_INCREMENTAL_STATE_CLEARED)
    for name, iid in event_iids.items():
        interning.interned_data.event_names.add(iid=iid, name=name)
    for name, iid in annotation_iids.items():
        interning.interned_data.debug_annotation_names.add(iid=iid, name=name)
    w.packet(interning)

    time_of = trace.time_ns(trace.headers["timestamp"]).astype(np.int64)
    for name, (track, spec) in EVENT_ANNOTATIONS.items():
        a = trace.fixed.get(name)
        if a is None or not len(a):
            continue
        if track == "vmm":
            contexts, where = np.unique(a["context"], return_inverse=True)
            uuids = np.array([w.track("vmm", parent=w.context_track(c))
                              for c in contexts.tolist()])[where]
        else:
            uuids = np.full(len(a), w.track(track))
        columns = [(annotation_iids[annotation], kind,
                    column(a) if callable(column) else a[column])
                   for annotation, column, kind in spec]
        times = time_of[a["position"]]
        w.bulk.append((instant_packets(event_iids[name], times, uuids, columns), times))

    _loss_markers(w, trace, time_of, event_iids[LOSS_NAME], annotation_iids)
    _phase_slices(w, trace, time_of)
    _counters(w, trace, series, time_of)
    add_process_tracks(w, trace, time_of, SEQUENCE)  # user processes (perfetto_processes.py)
    return w.serialized()


def instant_packets(name_iid, times, uuids, columns):
    """Column of serialized TracePackets, one instant event per row: what python-protobuf would
    serialize for the same fields (tests check it byte for byte), built for all rows at once.
    columns: [(annotation name iid, kind, values)], kind "u" uint, "p" pointer, "s" owner name."""
    n = len(times)
    te, ann = pb.TrackEvent, pb.DebugAnnotation
    pieces = []
    for iid, kind, values in columns:
        body = [wire.varint_field(ann, "name_iid", np.full(n, iid, dtype=np.uint64))]
        if kind == "s":
            key = wire.tag(wire.field_number(ann, "string_value"), wire.WIRE_LEN)
            table = [key + wire._varint_bytes(len(s.encode())) + s.encode() for s in OWNER_NAMES]
            body.append(wire.lookup_column(table, values))
        else:
            name = "uint_value" if kind == "u" else "pointer_value"
            body.append(wire.varint_field(ann, name, values))
        pieces.append(wire.message_field(te, "debug_annotations", wire.concat(body)))
    pieces += [wire.varint_field(te, "type", np.full(n, pb.TrackEvent.TYPE_INSTANT)),
               wire.varint_field(te, "name_iid", np.full(n, name_iid, dtype=np.uint64)),
               wire.varint_field(te, "track_uuid", uuids)]
    packet = pb.TracePacket
    return wire.concat([
        wire.varint_field(packet, "timestamp", times),
        wire.varint_field(packet, "trusted_packet_sequence_id", np.full(n, SEQUENCE)),
        wire.message_field(packet, "track_event", wire.concat(pieces)),
        wire.varint_field(packet, "sequence_flags", np.full(n, SEQ_NEEDS_INCREMENTAL_STATE))])


def _loss_markers(w, trace, time_of, name_iid, annotation_iids):
    loss = trace.of("loss")
    if not len(loss):
        return
    uuid = w.track("trace")
    reasons = FORMAT.values["loss_reason"]
    for position, count, reason in zip(loss["position"].tolist(), loss["count"].tolist(),
                                       loss["reason"].tolist()):
        t = int(time_of[position])
        p = pb.TracePacket(timestamp=t, trusted_packet_sequence_id=SEQUENCE,
                           sequence_flags=SEQ_NEEDS_INCREMENTAL_STATE)
        e = p.track_event
        e.type, e.track_uuid, e.name_iid = pb.TrackEvent.TYPE_INSTANT, uuid, name_iid
        e.debug_annotations.add(name_iid=annotation_iids["count"], uint_value=count)
        e.debug_annotations.add(name_iid=annotation_iids["reason"],
                                string_value=reasons.get(reason, str(reason)))
        w.packet(p, t)


def _phase_slices(w, trace, time_of):
    """A slice per phase on one track; phases still open at the end are closed there, and an end
    without its begin is left out, so slices always balance."""
    phases = trace.others_named("phase_begin", "phase_end")
    if not phases:
        return
    uuid = w.track("phases")
    open_names = []
    last = 0
    for e in phases:
        t = int(time_of[e.position])
        last = max(last, t)
        if e.name == "phase_begin":
            open_names.append(e.text)
            _slice(w, uuid, pb.TrackEvent.TYPE_SLICE_BEGIN, t, e.text)
        elif open_names and open_names[-1] == e.text:
            open_names.pop()
            _slice(w, uuid, pb.TrackEvent.TYPE_SLICE_END, t)
    end = int(time_of.max()) if len(time_of) else last
    for _ in open_names:
        _slice(w, uuid, pb.TrackEvent.TYPE_SLICE_END, end)


def _slice(w, uuid, kind, t, name=None):
    p = pb.TracePacket(timestamp=t, trusted_packet_sequence_id=SEQUENCE)
    e = p.track_event
    e.type, e.track_uuid = kind, uuid
    if name is not None:
        e.name = name
    w.packet(p, t)


def _counters(w, trace, series, time_of):
    """Every counter with an event at every change (never sampled): per zone from the exact
    timeline, per kernel region its free ranges and largest hole, and the running totals;
    what belongs to one context goes under that context's track."""
    line = series.timeline
    # (no timeline: nothing physical happened in the trace, e.g. a synthetic process stream)
    for zone in line.present_zones() if line is not None else ():
        z = line.zones[zone]
        times = time_of[z.positions]
        w.counter_track(f"free pages {zone}", "pages", times, z.free_pages)
        w.counter_track(f"free extents {zone}", "count", times, z.extents)
        w.counter_track(f"largest free extent {zone}", "pages", times, z.largest)
        unusable = z.unusable()
        for order in UNUSABLE_ORDERS:
            w.counter_track(f"unusable index order {order} {zone}", "fraction", times,
                            unusable[:, order])
    for h in line.holes if line is not None else ():
        if h.context != 0:
            continue
        parent = w.context_track(h.context)
        name = region_name(h.context, h.region)
        times = time_of[h.positions]
        w.counter_track(f"free ranges {name}", "count", times, h.ranges, parent)
        w.counter_track(f"largest hole {name}", "bytes", times, h.largest * PAGE, parent)
    for step in counters.running_totals(trace):
        if not len(step.positions):
            continue
        parent = None
        name = step.name
        if step.context is not None:
            parent = w.context_track(step.context)
            name = name.rsplit(" ctx", 1)[0]
        w.counter_track(name, step.unit, time_of[step.positions], step.values, parent)


def trace_uuid(data):
    """(msb, lsb) of a UUID that is the same for the same trace bytes and differs between
    traces: the first 16 bytes of their SHA-256 (Perfetto's UI keys its cache on it)."""
    import hashlib
    digest = hashlib.sha256(data).digest()
    return (int.from_bytes(digest[:8], "little", signed=True),
            int.from_bytes(digest[8:16], "little", signed=True))


def semantic_problems(data):
    """What the protobuf schema cannot check, on a serialized Trace: track uuids declared before
    use, slices balanced per track, timestamps non-decreasing per sequence, a unit on every
    counter track, interned names defined before use. Returns a list of problems (empty: fine)."""
    trace = pb.Trace()
    trace.ParseFromString(data)
    problems, declared, counters_ = [], set(), set()
    depth, last_time, event_names, annotation_names = {}, {}, set(), set()
    for n, p in enumerate(trace.packet):
        seq = p.trusted_packet_sequence_id
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            if d.HasField("parent_uuid") and d.parent_uuid not in declared:
                problems.append(f"packet {n}: track {d.uuid} has undeclared parent {d.parent_uuid}")
            declared.add(d.uuid)
            if d.HasField("counter"):
                counters_.add(d.uuid)
                if d.counter.unit == 0 and not d.counter.unit_name:
                    problems.append(f"packet {n}: counter track {d.name!r} has no unit")
        if p.HasField("interned_data"):
            event_names |= {e.iid for e in p.interned_data.event_names}
            annotation_names |= {a.iid for a in p.interned_data.debug_annotation_names}
        if p.HasField("timestamp"):
            if p.timestamp < last_time.get(seq, 0):
                problems.append(f"packet {n}: timestamp {p.timestamp} goes back on sequence {seq}")
            last_time[seq] = p.timestamp
        if p.HasField("track_event"):
            e = p.track_event
            if e.track_uuid not in declared:
                problems.append(f"packet {n}: event on undeclared track {e.track_uuid}")
            if e.type == pb.TrackEvent.TYPE_COUNTER and e.track_uuid not in counters_:
                problems.append(f"packet {n}: counter value on a track without a counter")
            if e.HasField("name_iid") and e.name_iid not in event_names:
                problems.append(f"packet {n}: event name iid {e.name_iid} not interned")
            for d in e.debug_annotations:
                if d.HasField("name_iid") and d.name_iid not in annotation_names:
                    problems.append(f"packet {n}: annotation name iid {d.name_iid} not interned")
            if e.type == pb.TrackEvent.TYPE_SLICE_BEGIN:
                depth[e.track_uuid] = depth.get(e.track_uuid, 0) + 1
            elif e.type == pb.TrackEvent.TYPE_SLICE_END:
                depth[e.track_uuid] = depth.get(e.track_uuid, 0) - 1
                if depth[e.track_uuid] < 0:
                    problems.append(f"packet {n}: slice end without a begin on track "
                                    f"{e.track_uuid}")
        if len(problems) > 20:
            break
    problems += [f"track {t}: {d} slices never end" for t, d in depth.items() if d > 0]
    return problems
