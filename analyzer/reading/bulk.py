"""Reads a whole trace at once into numpy arrays: the fast path behind decode, perfetto, frag,
compare and report.

The record stream is indexed once (a tight loop that follows only the chunk and record length
fields, holding each chunk's records to filling it exactly and its number to the next); every
other check and every field is then decoded per event type in bulk, with a numpy structured dtype
generated from events.def for that type's payload. String and array events (phases, snapshots,
cache names: a few per phase) are decoded one by one.

The checks are those of the strict reader (analyzer/reading/reader.py) plus the kernel's own totals in
trace_end (analyzer/reading/summary.py). When any bulk check fails, the strict reader is run over the
same bytes so that the error, its offset and its wording are exactly the reader's: there is one
definition of what a bad trace is, this module only gets to "fine" faster.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..definitions.events import FORMAT, LENGTH_PREFIX
from .reader import TraceError, TraceReader, decode_header, named_value_groups
from .summary import scenario_phases_problem, summarize

NUMPY_TYPES = {"u8": "<u1", "u16": "<u2", "u32": "<u4", "u64": "<u8"}


def payload_dtype(layout):
    """The packed structured dtype of a Layout (events.def field list)."""
    offsets, offset = [], 0
    for ftype in layout.types:
        offsets.append(offset)
        offset += np.dtype(NUMPY_TYPES[ftype]).itemsize
    return np.dtype({"names": list(layout.names), "formats": [NUMPY_TYPES[t] for t in layout.types],
                     "offsets": offsets, "itemsize": offset})


RECORD_HEADER_DTYPE = payload_dtype(FORMAT.record_header)
PAYLOAD_DTYPES = {e.id: payload_dtype(e.fields) for e in FORMAT.events_by_id.values()}


@dataclass
class Event:
    """A string or array event (array parts joined): `position` is the record index where it
    ends (its place in stream order), `fields` its fixed fields, plus `text` or `items`."""

    name: str
    position: int
    seq: int
    timestamp: int
    fields: dict
    text: str = None
    items: np.ndarray = None  # structured array of the item fields

    def __getattr__(self, name):
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None


class BulkTrace:
    """A checked trace. `fixed[name]` is a structured array of every fixed event of that type
    with the extra fields `position` (record index) and `timestamp`; `others` lists the string
    and array events in stream order."""

    def __init__(self, path, data):
        self.path = str(path)
        self.data = data
        self.header, start = decode_header(memoryview(data))
        offsets = _index_records(data, start)
        buf = np.frombuffer(data, dtype=np.uint8)
        self.offsets = offsets
        self.headers = _gather(buf, offsets, RECORD_HEADER_DTYPE)
        self._check(buf, start)
        self._check_times()
        self.fixed, self.others = {}, []
        self._decode(buf)
        if scenario_phases_problem(self.header.cmdline,
                                   {e.text for e in self.others_named("phase_begin")}):
            self._raise_strict()

    @classmethod
    def open(cls, path):
        return cls(path, Path(path).read_bytes())

    @property
    def records(self):
        return len(self.offsets)

    def seqs(self):
        """Each record's seq, its index in the stream (the format carries none)."""
        return np.arange(len(self.offsets), dtype=np.int64)

    def events_total(self):
        """Events in the trace: fixed events plus joined string/array events."""
        return sum(len(a) for a in self.fixed.values()) + len(self.others)

    def of(self, name):
        """The structured array of one fixed event type (empty when absent)."""
        if name in self.fixed:
            return self.fixed[name]
        return np.zeros(0, dtype=_with_position(PAYLOAD_DTYPES[FORMAT.events_by_name[name].id]))

    def others_named(self, *names):
        return [e for e in self.others if e.name in names]

    def seconds_per_tick(self):
        hz = self.header.clock_hz
        return 1.0 / hz if hz else None

    def time_base(self):
        """The first clock reading of the trace: the header's, or an earlier record's (the kernel
        records from its first instruction, before the header is written)."""
        first = int(self.headers["timestamp"].min()) if len(self.headers) else 0
        return min(int(self.header.start_timestamp), first)

    def time_ns(self, ticks):
        """Ticks since time_base, in ns (1 tick = 1 ns when the frequency is unknown, which is
        what icount runs give anyway)."""
        ticks = np.asarray(ticks, dtype=np.float64) - float(self.time_base())
        hz = self.header.clock_hz
        return ticks * (1e9 / hz) if hz else ticks

    # -- checks -----------------------------------------------------------------------------

    def _check_times(self):
        """Every timestamp, in ns from the trace's first clock reading, fits a signed 64-bit ns
        count (292 years): anything beyond is a corrupt clock reading, not a measurement."""
        ns = self.time_ns(self.headers["timestamp"])
        bad = np.flatnonzero(~np.isfinite(ns) | (ns >= 2.0**63))
        if len(bad):
            i = int(bad[0])
            raise TraceError(f"timestamp {int(self.headers['timestamp'][i])} lies beyond 2^63 ns "
                             f"after the trace's first clock reading at "
                             f"{self.header.clock_hz} Hz", int(self.offsets[i]))

    def _check(self, buf, start):
        """Every framing and total check of the strict reader and of `info`, vectorized. Any
        failure hands over to the strict reader for the exact error."""
        h = self.headers
        n = len(h)
        known = np.zeros(256, dtype=bool)
        fixed_length = np.zeros(256, dtype=np.int64)
        min_length = np.zeros(256, dtype=np.int64)
        for e in FORMAT.events_by_id.values():
            known[e.id] = True
            size = FORMAT.record_header.size + e.payload_size
            min_length[e.id] = size
            fixed_length[e.id] = size if e.kind == "fixed" else 0
        types = h["type"]
        lengths = h["length"].astype(np.int64)
        end_id = FORMAT.events_by_name["trace_end"].id
        ok = (known[types].all()
              and (lengths <= FORMAT.constants["TRACE_RECORD_MAX"]).all()
              and (lengths >= min_length[types]).all()
              and ((fixed_length[types] == 0) | (fixed_length[types] == lengths)).all()
              and not (types[:-1] == end_id).any())
        continued = FORMAT.constants["TRACE_FLAG_CONTINUED"]
        known_flags = sum(v for k, v in FORMAT.constants.items() if k.startswith("TRACE_FLAG_"))
        ok = (ok and (types <= self.header.max_event_id).all()
              and (h["timestamp"][1:] >= h["timestamp"][:-1]).all()
              and (n == 0 or min(int(h["timestamp"][0]), self.header.start_timestamp) ==
                   self.header.first_timestamp)
              and not (h["flags"] & ~known_flags & 0xFF).any())
        if ok:
            not_array = np.array([FORMAT.events_by_id.get(t) is None or
                                  FORMAT.events_by_id[t].kind != "array" for t in range(256)])
            ok = not (not_array[types] & ((h["flags"] & continued) != 0)).any()
        if ok:
            ok = self._check_totals(types, lengths)
        if not ok:
            self._raise_strict()

    def _check_totals(self, types, lengths):
        """trace_end's counts equal what arrived (summary.py says why each matters)."""
        if len(types) == 0 or types[-1] != FORMAT.events_by_name["trace_end"].id:
            return False
        end = self._decode_other(len(types) - 1)
        if int(end.fields["records"]) != len(types) - 1:
            return False
        if len(end.items) != self.header.max_event_id + 1:
            return False
        if int(end.fields["bytes"]) != int(lengths[:-1].sum()):
            return False
        counts = np.bincount(types[:-1], minlength=256)
        kernel_counts = end.items["count"] if len(end.items) else np.zeros(0, np.uint64)
        expected = np.zeros(256, dtype=np.int64)
        if len(kernel_counts) > 256:
            return False
        expected[:len(kernel_counts)] = kernel_counts.astype(np.int64)
        if (counts != expected).any():
            return False
        loss = self._fixed_array(FORMAT.events_by_name["loss"].id, np.flatnonzero(
            types == FORMAT.events_by_name["loss"].id))
        for code, reason in FORMAT.values["loss_reason"].items():
            lost = int(loss["count"][loss["reason"] == code].sum()) if len(loss) else 0
            if lost != int(end.fields[f"lost_{reason}"]):
                return False
            if lost and reason == "ring_full" and self.header.value_name("trace_mode") == \
                    "lossless":
                return False
        return True

    def _raise_strict(self):
        raise_strict_error(self.data)

    # -- decoding ---------------------------------------------------------------------------

    def _fixed_array(self, type_id, positions):
        dtype = PAYLOAD_DTYPES[type_id]
        out = np.zeros(len(positions), dtype=_with_position(dtype))
        if len(positions):
            buf = np.frombuffer(self.data, dtype=np.uint8)
            payload = _gather(buf, self.offsets[positions] + FORMAT.record_header.size, dtype)
            for name in dtype.names:
                out[name] = payload[name]
        out["position"] = positions
        out["timestamp"] = self.headers["timestamp"][positions]
        return out

    def _decode(self, buf):
        types = self.headers["type"]
        order = np.argsort(types, kind="stable")
        bounds = np.searchsorted(types[order], np.arange(257))
        variable = []
        for type_id in range(256):
            positions = order[bounds[type_id]:bounds[type_id + 1]]
            if not len(positions):
                continue
            event_type = FORMAT.events_by_id[type_id]
            if event_type.kind == "fixed":
                array = self._fixed_array(type_id, positions)
                if not _named_values_known(event_type, array):
                    self._raise_strict()
                self.fixed[event_type.name] = array
            else:
                variable.extend(positions.tolist())
        continued = FORMAT.constants["TRACE_FLAG_CONTINUED"]
        open_parts = {}
        for position in sorted(variable):
            event = self._decode_other(position)
            first = open_parts.pop(event.name, None)
            if first is not None and first.fields != event.fields:
                self._raise_strict()  # a part must repeat its first part's fields
            if first is not None:
                event = Event(event.name, position, first.seq, first.timestamp, first.fields,
                              items=np.concatenate([first.items, event.items]))
            if self.headers["flags"][position] & continued:
                event_type = FORMAT.events_by_name[event.name]
                if int(self.headers["length"][position]) + event_type.item.size <= \
                        FORMAT.constants["TRACE_RECORD_MAX"]:
                    self._raise_strict()  # every part but the last is full
                open_parts[event.name] = event
                continue
            self.others.append(event)
        if open_parts:
            self._raise_strict()

    def _decode_other(self, position):
        """Decodes one string or array record; a bad inner length goes to the strict reader."""
        type_id = int(self.headers["type"][position])
        event_type = FORMAT.events_by_id[type_id]
        start = int(self.offsets[position]) + FORMAT.record_header.size
        end = int(self.offsets[position]) + int(self.headers["length"][position])
        payload = memoryview(self.data)[start:end]
        fields = dict(zip(event_type.fields.names, event_type.fields.codec.unpack_from(payload)))
        (count,) = LENGTH_PREFIX.unpack_from(payload, event_type.fields.size)
        rest = payload[event_type.payload_size:]
        for name, allowed in named_value_groups(FORMAT, event_type.name,
                                                event_type.fields.names).items():
            if fields[name] not in allowed:
                self._raise_strict()
        seq, timestamp = position, int(self.headers["timestamp"][position])
        if event_type.kind == "string":
            if count != len(rest):
                self._raise_strict()
            return Event(event_type.name, position, seq, timestamp, fields,
                         text=bytes(rest).decode("utf-8", "replace"))
        item_dtype = payload_dtype(event_type.item)
        if count * item_dtype.itemsize != len(rest):
            self._raise_strict()
        items = np.frombuffer(bytes(rest), dtype=item_dtype, count=count)
        return Event(event_type.name, position, seq, timestamp, fields, items=items)


def _named_values_known(event_type, array):
    """Every named-value field of a fixed event array holds a value of its group (the strict
    reader's rule, reader.named_value_groups)."""
    for name, allowed in named_value_groups(FORMAT, event_type.name,
                                            event_type.fields.names).items():
        if not np.isin(array[name], np.fromiter(allowed, dtype=np.int64)).all():
            return False
    return True


def _with_position(dtype):
    return np.dtype([("position", "<i8"), ("timestamp", "<u8")] +
                    [(name, dtype.fields[name][0]) for name in dtype.names])


def _gather(buf, offsets, dtype):
    """The `dtype` record at each byte offset of buf (offsets need not be aligned)."""
    if not len(offsets):
        return np.zeros(0, dtype=dtype)
    windows = sliding_window_view(buf, dtype.itemsize)
    return np.ascontiguousarray(windows[offsets]).view(dtype).reshape(len(offsets))


def _index_records(data, offset):
    """Byte offsets of every record, following the chunk and record length fields. A chunk whose
    number is not the next, whose records do not fill it exactly, or that the file cuts short,
    and a length that cannot be right, hand over to the strict reader."""
    offsets = []
    append = offsets.append
    header = FORMAT.record_header.size
    chunk_codec = FORMAT.chunk_header.codec
    chunk_header = FORMAT.chunk_header.size
    size, number = len(data), 0
    while offset < size:
        if size - offset < chunk_header:
            raise_strict_error(data)
        chunk_bytes, chunk_number = chunk_codec.unpack_from(data, offset)
        end = offset + chunk_bytes
        if chunk_number != number or chunk_bytes <= chunk_header or end > size:
            raise_strict_error(data)
        offset += chunk_header
        last = end - header
        while offset <= last:
            append(offset)
            length = data[offset + 2] | (data[offset + 3] << 8)
            if length < header:
                raise_strict_error(data)
            offset += length
        if offset != end:
            raise_strict_error(data)
        number = (number + 1) & 0xFFFFFFFF
    if not offsets:
        raise_strict_error(data)
    return np.asarray(offsets, dtype=np.int64)


def raise_strict_error(data):
    """Runs the strict reader and the totals check over data and raises their first error."""
    summary = summarize(TraceReader(data))
    if summary.problems:
        first = summary.problems[0]
        raise TraceError(f"inconsistent trace: {first.text}", first.offset)
    for _ in TraceReader(data).events():
        pass
    raise TraceError("the bulk reader rejects this trace but the strict reader does not",
                     len(data))
