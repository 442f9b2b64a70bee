"""A seeded mutation harness over real kernel-made traces: every mutation is either refused by
`analyzer check` (exit 3, each line `error: FILE: ...`, the first naming its offset) or belongs to
a category that is undetectable by construction, listed below with the reason.

Mutations, by category (records are deleted, duplicated and swapped, put back into one chunk
that they fill and the trace_end totals rewritten, so only the meaning of the stream can give
them away):

  framing     cuts, spliced bytes, inserted garbage, wrong lengths, unknown or resized types (in
              the kernel's own chunks)
  header      a bit flipped in any header field or text; out-of-set values; clock_hz of 1
  flags       undefined flag bits; CONTINUED set on a fixed or string event, cleared on an array
              part, set on an array's last part
  timestamp   a record's timestamp moved before its predecessor's, after its successor's or
              between them; the first record's moved anywhere; the last record's moved later
  payload     a bit flipped in one field of one record (records picked evenly across types)
  records     a record deleted or duplicated; a record swapped with the one that undoes it
              (alloc/free, reserve/release, map/unmap, create/region ...); two neighbours swapped

The analyzer runs in-process (main(), as the command line does), so a crash shows its traceback.
"""

import collections
import contextlib
import io
import random
import re
import struct

import pytest

from analyzer.__main__ import main
from analyzer.definitions.events import FORMAT
from analyzer.reading.reader import PLAUSIBLE_CLOCK_HZ, TraceReader

SEED = 0x9A6E5C0FE
MUTATIONS_PER_TRACE = 525
# Two small boots: brk in a user context, and shared memory between contexts (each with the
# kernel context's boot, its phases and snapshots).
BOOTS = ["trace=on vmm=pagetable test=vmm_brk", "trace=on vmm=list test=vmm_shared"]

RECORD_HEADER = FORMAT.record_header.codec
HEADER_BYTES = FORMAT.record_header.size
CHUNK_HEADER = FORMAT.chunk_header.codec
CONTINUED = FORMAT.constants["TRACE_FLAG_CONTINUED"]
TRACE_END = FORMAT.events_by_name["trace_end"]
EVENTS = FORMAT.events_by_id
FIELD_SIZE = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
STRUCT = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q"}
DIRECT_MAP_REGION = FORMAT.value_numbers["VMM_KREGION_DIRECT_MAP"]

# Undetectable by construction: a field whose every value is consistent with the rest of the
# stream, because no other record states or depends on it.
UNMODELLED_FIELDS = {
    "pmm_alloc.align_log2": "only 'the address is aligned to it' is known",
    "vmm_reserve.align_log2": "only 'the address is aligned to it' is known",
    "vmm_reserve.work": "work is a measurement, stated nowhere else",
    "vmm_release.work": "work is a measurement, stated nowhere else",
    "kmalloc.requested": "only 'given >= requested' is known",
    "context_create.root": "the root table's address is stated nowhere else",
    "slab_cache_create.object_size": "stated nowhere else",
    "slab_cache_create.text": "a cache name is stated nowhere else",
    "vmm_region.text": "a region name is stated nowhere else",
    "vmm_bookkeeping.bytes": "the backend's bookkeeping size is stated nowhere else",
    **{f"{e.name}.{f}": "a refusal changes no state" for e in EVENTS.values()
       if e.name.endswith("_fail") for f in e.fields.names},
    **{f"trace_bench.{f}": "filler without allocator meaning" for f in ("index", "value")},
    **{f"call_chain.{f}": "a return address is stated nowhere else"
       for f in FORMAT.events_by_name["call_chain"].fields.names if f != "chain"},
    **{f"{e.name}.chain": "which of the chains defined before it is stated nowhere else"
       for e in EVENTS.values() if "chain" in e.fields.names and e.name != "call_chain"},
    **{f"{e.name}.cost": "a cost is a measurement, stated nowhere else"
       for e in EVENTS.values() if "cost" in e.fields.names},
}
# Fields whose change is caught only when a later record undoes or uses the record's object
# (its free, unmap, protect or next switch); otherwise the change is consistent by construction.
CONDITIONAL_FIELDS = {
    "vmm_map": ("virt", "phys", "page_size", "flags", "context"),
    "vmm_protect": ("flags",),
    "pt_alloc": ("phys", "context", "level"),
    "kmalloc": ("ptr", "given"),
    "slab_alloc": ("object", "cache"),
    "pmm_alloc": ("owner", "zone", "addr", "pages", "held"),
    "context_switch": ("to_context",),
    "vmm_region": ("owner",),
}
UNDETECTABLE_HEADER_FIELDS = {
    "start_timestamp": "only 'not before first_timestamp' is known",
    "memory_bytes": "stated nowhere else",
    "clock": "tsc and fake are both valid clocks",
}
STATELESS_EVENTS = {name for name in FORMAT.events_by_name if name.endswith("_fail")} | {
    "trace_bench", "vmm_bookkeeping"}  # vmm_bookkeeping: a figure, not a change of state


class Trace:
    """A trace split into its header and records, with what the harness needs to know about
    which records later records depend on."""

    def __init__(self, data):
        reader = TraceReader(data)
        self.header = bytes(data[:reader.records_offset])
        self.raw = list(reader.records())
        self.records = [bytes(data[r.offset:r.offset + r.length]) for r in self.raw]
        self.first_pmm_snapshot = next(i for i, r in enumerate(self.raw)
                                       if EVENTS[r.type].name == "pmm_snapshot")
        self.by_type = collections.defaultdict(list)
        for i, r in enumerate(self.raw[:-1]):
            self.by_type[EVENTS[r.type].name].append(i)

    def name(self, i):
        return EVENTS[self.raw[i].type].name

    def used_later(self, i, field=None):
        """True when a later record undoes or depends on record i's object (so deleting record i,
        or changing its `field`, is caught)."""
        e, name = self.raw[i].event, self.name(i)
        later = ((EVENTS[r.type].name, r.event) for r in self.raw[i + 1:])
        if name in ("vmm_map", "vmm_protect"):
            for other, f in later:
                if other == "context_destroy" and f.context == e.context:
                    return False
                if other in ("vmm_unmap", "vmm_protect") and (f.context, f.virt) == (e.context,
                                                                                      e.virt):
                    return True
            return False
        if name == "pmm_alloc":  # the next snapshot shows its pages; only its free the rest
            return (i > self.first_pmm_snapshot and field not in ("owner", "zone")) or any(
                other == "pmm_free" and f.addr == e.addr for other, f in later)
        if name == "pt_alloc" and i > 0 and self.name(i - 1) == "pmm_alloc" and \
                self.raw[i - 1].event.addr == e.phys:
            return True  # a table page from the pmm (not from the boot pool)
        undo = {"pt_alloc": ("pt_free", "phys"), "kmalloc": ("kfree", "ptr"),
                "slab_alloc": ("slab_free", "object")}
        if name in undo:
            other_name, key = undo[name]
            return any(other == other_name and getattr(f, key) == getattr(e, key)
                       for other, f in later)
        if name == "vmm_brk":  # the heap's next resize states its size
            return any(other == "vmm_brk" and f.context == e.context for other, f in later)
        if name == "vmm_region" and field == "owner":  # held to the pages mapped in the region
            return self.maps_in_region(i, e)
        if name == "context_switch":  # the next switch leaves the context this one entered
            return e.from_context != e.to_context and any(other == "context_switch"
                                                          for other, _ in later)
        if name == "slab_cache_create":
            return any(other == "slab_cache_create" or (other.startswith("slab_") and
                                                        f.cache >= e.cache) for other, f in later)
        return True

    def maps_in_region(self, i, e):
        """True when a page is mapped in region record i declares while the pmm is known (a
        mapping made before the pmm's first snapshot counts if it is still there then), outside
        the direct map (whose pages no owner is asked of)."""
        if e.context == 0 and e.region == DIRECT_MAP_REGION:
            return False
        end = e.base + e.pages * FORMAT.constants["TRACE_PAGE_BYTES"]
        for j in range(i + 1, len(self.raw)):
            name, f = self.name(j), self.raw[j].event
            if name == "context_destroy" and f.context == e.context:
                return False
            if name == "vmm_map" and f.context == e.context and e.base <= f.virt < end:
                if j > self.first_pmm_snapshot or not any(
                        self.name(k) == "vmm_unmap" and (self.raw[k].event.context,
                                                         self.raw[k].event.virt) ==
                        (f.context, f.virt) for k in range(j + 1, self.first_pmm_snapshot)):
                    return True
        return False

    def build(self, records, repair=True):
        """The trace of these records, all in one chunk (its header states their bytes) and,
        when `repair`, trace_end's totals rewritten to match (so only the records' meaning can
        betray a change)."""
        out = []
        counts = collections.Counter()
        total_bytes = 0
        for index, record in enumerate(records):
            rtype = RECORD_HEADER.unpack_from(record, 0)[0]
            if repair and rtype == TRACE_END.id and index == len(records) - 1:
                record = self._trace_end(record, index, counts, total_bytes)
            counts[rtype] += 1
            total_bytes += len(record)
            out.append(record)
        chunk = CHUNK_HEADER.pack(CHUNK_HEADER.size + total_bytes, 0)
        return self.header + chunk + b"".join(out)

    @staticmethod
    def _trace_end(record, records_before, counts, total_bytes):
        fields = list(TRACE_END.fields.codec.unpack_from(record, HEADER_BYTES))
        names = TRACE_END.fields.names
        fields[names.index("records")] = records_before
        fields[names.index("bytes")] = total_bytes
        (count,) = struct.unpack_from("<H", record, HEADER_BYTES + TRACE_END.fields.size)
        items = struct.pack(f"<{count}Q", *(counts[t] for t in range(count)))
        payload = TRACE_END.fields.codec.pack(*fields) + struct.pack("<H", count) + items
        return record[:HEADER_BYTES] + payload


def field_offsets(layout):
    offset = 0
    for ftype, name in zip(layout.types, layout.names):
        yield name, ftype, offset
        offset += FIELD_SIZE[ftype]


def flip(data, offset, bit):
    out = bytearray(data)
    out[offset + bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def set_value(data, offset, ftype, value):
    out = bytearray(data)
    struct.pack_into(STRUCT[ftype], out, offset, value)
    return bytes(out)


TIMESTAMP_AT = 4  # in a record header: after type, flags and length (events.def)


def set_timestamp(record, timestamp):
    return record[:TIMESTAMP_AT] + struct.pack("<Q", timestamp) + record[TIMESTAMP_AT + 8:]


# ---- the mutations: each returns (category, kind, None if it must be refused else the reason it
# ---- cannot be, mutated bytes)

def mutate_framing(t, rng, original):
    choice = rng.randrange(5)
    i = rng.randrange(len(t.records))
    start = t.raw[i].offset
    if choice == 0:
        return "framing", "cut", None, original[:rng.randrange(len(original))]
    if choice == 1:
        length = rng.choice([0, 1, HEADER_BYTES - 1, HEADER_BYTES + 1, len(t.records[i]) - 1,
                             len(t.records[i]) + 1, 4097, 65535])
        return "framing", "record length", None, set_value(original, start + 2, "u16", length)
    if choice == 2:
        sizes = {e.id for e in EVENTS.values() if e.kind != "fixed" or
                 HEADER_BYTES + e.payload_size != len(t.records[i])}
        new_type = rng.choice(sorted(sizes | set(range(max(EVENTS) + 1, 256))))
        return "framing", "record type", None, set_value(original, start, "u8", new_type)
    if choice == 3:
        garbage = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        return "framing", "inserted bytes", None, original[:start] + garbage + original[start:]
    a = rng.randrange(len(t.header), len(original) - 1)
    b = rng.randrange(a + 1, min(len(original), a + 200))
    if (b - a) % 4096 == 0:
        b += 1
    return "framing", "spliced bytes", None, original[:a] + original[b:]


def mutate_header(t, rng, original):
    layout = FORMAT.stream_header
    fields = list(field_offsets(layout))
    choice = rng.randrange(4)
    if choice == 0:  # a value outside its set, or an absurd clock
        name, value = rng.choice([("clock", 7), ("vmm_backend", 7), ("trace_mode", 7),
                                  ("clock_hz", 1)])
        ftype, offset = next((ft, off) for n, ft, off in fields if n == name)
        return "header", f"{name}={value}", None, set_value(original, offset, ftype, value)
    if choice == 1 and len(t.header) > layout.size:  # a bit of the command line or build id
        offset = rng.randrange(layout.size, len(t.header))
        data = flip(original, offset, rng.randrange(8))
        try:
            TraceReader(data)
        except Exception:  # noqa: BLE001 - refused as it must be; main() is still run below
            return "header", "text", None, data
        return "header", "text", "text that stays valid UTF-8 is stated nowhere else", data
    name, ftype, offset = rng.choice(fields)
    data = flip(original, offset, rng.randrange(8 * FIELD_SIZE[ftype]))
    (value,) = struct.unpack_from(STRUCT[ftype], data, offset)
    detectable = (name == "clock" and value not in FORMAT.values["clock"]) or (
        name == "start_timestamp" and value < TraceReader(original).header.first_timestamp)
    if name in UNDETECTABLE_HEADER_FIELDS and not detectable:
        return "header", name, UNDETECTABLE_HEADER_FIELDS[name], data
    if name == "clock_hz" and (value == 0 or value in PLAUSIBLE_CLOCK_HZ):
        return "header", name, "another plausible clock frequency", data
    return "header", name, None, data


def mutate_flags(t, rng, original):
    records = list(t.records)
    choice = rng.randrange(4)
    arrays = [i for i, r in enumerate(t.raw) if EVENTS[r.type].kind == "array"]
    if choice == 0:
        i = rng.randrange(len(records))
        records[i] = flip(records[i], 1, rng.randrange(1, 8))
        kind = "undefined bit"
    elif choice == 1:
        i = rng.choice([i for i, r in enumerate(t.raw) if EVENTS[r.type].kind != "array"])
        records[i] = set_value(records[i], 1, "u8", CONTINUED)
        kind = f"CONTINUED on {t.name(i)}"
    else:
        parts = [i for i in arrays if t.raw[i].flags & CONTINUED]
        last_parts = [i for i in arrays if not t.raw[i].flags & CONTINUED and
                      t.name(i) != "trace_end"]
        if choice == 2 and parts:
            i = rng.choice(parts)
            records[i] = set_value(records[i], 1, "u8", 0)
            kind = "CONTINUED cleared on a part"
        else:
            i = rng.choice(last_parts)
            records[i] = set_value(records[i], 1, "u8", CONTINUED)
            kind = "CONTINUED on a last part"
    return "flags", kind, None, t.build(records)


def mutate_timestamp(t, rng, original):
    records = list(t.records)
    choice = rng.randrange(5)
    if choice == 3:  # the header's first_timestamp states it: any other time, 0 included
        first = t.raw[0].timestamp
        later = rng.randint(first + 1, t.raw[1].timestamp + 1)
        records[0] = set_timestamp(records[0], rng.choice(
            [later] + ([0, rng.randrange(first)] if first else [])))
        return "timestamp", "the first record's moved", None, t.build(records)
    if choice == 4:
        last = len(records) - 1
        records[last] = set_timestamp(records[last], t.raw[last].timestamp +
                                      rng.randint(1, 1 << 40))
        return ("timestamp", "the last record's moved later",
                "nothing after the last record bounds its time", t.build(records))
    i = rng.randrange(1, len(records) - 1)
    before, after = t.raw[i - 1].timestamp, t.raw[i + 1].timestamp
    if choice == 0 and before > 0:
        records[i] = set_timestamp(records[i], rng.randrange(before))
        return "timestamp", "before its predecessor", None, t.build(records)
    if choice == 1:
        records[i] = set_timestamp(records[i], after + rng.randint(1, 1 << 20))
        return "timestamp", "after its successor", None, t.build(records)
    records[i] = set_timestamp(records[i], rng.randint(before, after))
    return ("timestamp", "between its neighbours",
            "a time between its neighbours' is consistent with both", t.build(records))


def mutate_payload(t, rng, original):
    name = rng.choice(sorted(n for n in t.by_type if n != "loss"))
    i = rng.choice(t.by_type[name])
    event = EVENTS[t.raw[i].type]
    record = t.records[i]
    targets = [(f, ft, HEADER_BYTES + off) for f, ft, off in field_offsets(event.fields)]
    rest = HEADER_BYTES + event.payload_size
    if event.kind == "array" and len(record) > rest:
        item = rng.randrange((len(record) - rest) // event.item.size)
        targets += [(f"items.{f}", ft, rest + item * event.item.size + off)
                    for f, ft, off in field_offsets(event.item)]
    if event.kind == "string" and len(record) > rest:
        targets.append(("text", "u8", rng.randrange(rest, len(record))))
    field, ftype, offset = rng.choice(targets)
    mutated = list(t.records)
    mutated[i] = flip(record, offset, rng.randrange(8 * FIELD_SIZE[ftype]))
    data = t.build(mutated, repair=False)
    key = f"{name}.{field}"
    if key in UNMODELLED_FIELDS:
        return "payload", key, UNMODELLED_FIELDS[key], data
    if field in CONDITIONAL_FIELDS.get(name, ()) and not t.used_later(i, field):
        return "payload", key, "no later record uses this object", data
    return "payload", key, None, data


def mutate_records(t, rng, original):
    records = list(t.records)
    body = range(len(records) - 1)  # trace_end stays last
    choice = rng.randrange(4)
    if choice <= 1:
        name = rng.choice(sorted(t.by_type))
        i = rng.choice(t.by_type[name])
        part = EVENTS[t.raw[i].type].kind == "array"
        if choice == 0:
            del records[i]
            kind = f"deleted {name}"
            reason = None
            if name in STATELESS_EVENTS:
                reason = "a refusal or filler changes no state"
            elif name == "vmm_brk" and t.raw[i].event.old_pages == 0:
                reason = ("a heap created by brk is its first pages reserved: nothing after "
                          "can tell the two apart")
            elif not part and not t.used_later(i):
                reason = "no later record uses this object"
        else:
            records.insert(i + 1, records[i])
            kind = f"duplicated {name}"
            reason = "a refusal or filler changes no state" if name in STATELESS_EVENTS else None
            if name == "vmm_protect":
                reason = "protecting a page twice with the same flags changes nothing"
            if name == "context_switch" and t.raw[i].event.from_context == \
                    t.raw[i].event.to_context:
                reason = "a switch to the active context changes nothing"
        return "records", kind, reason, t.build(records)
    if choice == 2:
        i, j = rng.choice(dependent_pairs(t))
        kind = f"swapped {t.name(i)} with its {t.name(j)}"
        reason = None
    else:
        i = rng.choice(body[:-1])
        j = i + 1
        kind = "swapped neighbours"
        reason = "two independent neighbours may come in either order"
    # Swap the records' contents; timestamps stay in place so they cannot give the swap away.
    records[i], records[j] = (set_timestamp(records[j], t.raw[i].timestamp),
                              set_timestamp(records[i], t.raw[j].timestamp))
    return "records", kind, reason, t.build(records)


def dependent_pairs(t):
    """(i, j): record j undoes or needs record i."""
    if hasattr(t, "_pairs"):
        return t._pairs
    pairs, open_ = [], {}
    keys = {"pmm_alloc": ("pmm", "addr"), "pmm_free": ("pmm", "addr"),
            "vmm_reserve": ("vmm", "addr"), "vmm_release": ("vmm", "addr"),
            "vmm_map": ("map", "virt"), "vmm_unmap": ("map", "virt"),
            "pt_alloc": ("pt", "phys"), "pt_free": ("pt", "phys"),
            "kmalloc": ("km", "ptr"), "kfree": ("km", "ptr"),
            "slab_alloc": ("slab", "object"), "slab_free": ("slab", "object"),
            "context_create": ("ctx", "context"), "context_destroy": ("ctx", "context")}
    openers = {"pmm_alloc", "vmm_reserve", "vmm_map", "pt_alloc", "kmalloc", "slab_alloc",
               "context_create"}
    for i, r in enumerate(t.raw):
        name = EVENTS[r.type].name
        if name in keys:
            kind, field = keys[name]
            key = (kind, getattr(r.event, field), getattr(r.event, "context", None)
                   if kind in ("vmm", "map") else None)
            if name in openers:
                open_[key] = i
            elif key in open_:
                pairs.append((open_.pop(key), i))
        if name == "vmm_region" and r.event.region == 0:
            pairs.append((i - 1, i))
    t._pairs = pairs
    return pairs


MUTATORS = [mutate_framing, mutate_header, mutate_flags, mutate_timestamp, mutate_payload,
            mutate_payload, mutate_records, mutate_records]


def run(command, path):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([command, str(path)])
    return status, err.getvalue()


def test_every_mutation_of_a_real_trace_is_refused_or_undetectable_by_construction(
        kernel_trace, tmp_path):
    rng = random.Random(SEED)
    outcomes = collections.Counter()  # (category, verdict) -> mutations
    undetected = collections.Counter()  # (category, kind, reason) -> mutations
    tried = collections.Counter()  # (category, kind) -> mutations
    missed = []
    path = tmp_path / "mutated.pstrace"
    total = 0
    for boot in BOOTS:
        original = kernel_trace(boot)
        status, err = run("check", _write(path, original))
        assert status == 0, err  # the unmutated trace is sound
        t = Trace(original)
        for _ in range(MUTATIONS_PER_TRACE):
            category, kind, reason, data = rng.choice(MUTATORS)(t, rng, original)
            if data == original:
                continue
            total += 1
            tried[category, kind] += 1
            status, err = run("check", _write(path, data))
            if status == 3:
                lines = err.splitlines()
                assert lines and all(line.startswith(f"error: {path}: ") for line in lines), err
                assert re.match(rf"error: {re.escape(str(path))}: offset \d+: \S", lines[0]), err
                if category in ("framing", "header", "flags", "timestamp"):
                    # found by the reader, so every subcommand refuses it alike, in one line
                    info_status, info_err = run("info", path)
                    assert info_status == 3 and info_err.splitlines()[0] == lines[0], (kind, err)
                outcomes[category, "refused"] += 1
            else:
                assert status == 0, (kind, status, err)
                if reason is None:
                    missed.append((category, kind))
                else:
                    undetected[category, kind, reason] += 1
                outcomes[category, "undetectable"] += 1
    report = "\n".join(f"  {c:<10} {v:<13} {n}" for (c, v), n in sorted(outcomes.items()))
    listed = "\n".join(f"  {n:4} of {tried[c, k]:4} {c}: {k} ({r})"
                       for (c, k, r), n in sorted(undetected.items()))
    print(f"\n{total} mutations\n{report}\naccepted, undetectable by construction:\n{listed}")
    assert not missed, f"accepted although detectable: {missed[:20]} ({len(missed)} in all)"
    assert total >= 1000
    for category in ("framing", "header", "flags", "timestamp", "payload", "records"):
        assert outcomes[category, "refused"] > 0, category


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("boot", BOOTS)
def test_the_harness_traces_cover_what_the_replay_models(kernel_trace, boot):
    """The boots above exercise every kind of record the mutations rely on."""
    t = Trace(kernel_trace(boot))
    for name in ("pmm_alloc", "pmm_free", "vmm_reserve", "vmm_release", "vmm_region",
                 "vmm_snapshot", "pmm_snapshot", "context_create", "context_destroy", "vmm_map",
                 "pt_alloc", "phase_begin", "phase_end"):
        assert t.by_type[name], (boot, name)
    assert len(dependent_pairs(t)) > 10


def test_a_deletion_declared_by_a_loss_record_is_accepted(kernel_trace, tmp_path):
    """The other side of the contract: a trace that declares what it lost (a `loss` record, with
    the kernel's loss totals) is consistent, so `check` accepts it, re-learning the state from
    the next snapshots instead of reporting what the lost event would have explained."""
    rng = random.Random(SEED + 1)
    loss = FORMAT.events_by_name["loss"]
    reason = next(v for v, n in FORMAT.values["loss_reason"].items() if n == "recursion")
    path = tmp_path / "lossy.pstrace"
    for boot in BOOTS:
        t = Trace(kernel_trace(boot))
        for _ in range(100):
            records = list(t.records)
            dropped = rng.randint(1, 3)
            i = rng.randrange(1, len(records) - dropped)  # trace_end stays
            record = RECORD_HEADER.pack(loss.id, 0, HEADER_BYTES + loss.payload_size,
                                        t.raw[i].timestamp) + \
                loss.fields.codec.pack(dropped, reason)
            records[i:i + dropped] = [record]
            data = bytearray(t.build(records))
            end = len(data) - len(records[-1])
            names = TRACE_END.fields.names
            offset = end + HEADER_BYTES + 8 * names.index("lost_recursion")
            struct.pack_into("<Q", data, offset, dropped)
            status, err = run("check", _write(path, bytes(data)))
            assert status == 0, (boot, i, [t.name(j) for j in range(i, i + dropped)], err)
