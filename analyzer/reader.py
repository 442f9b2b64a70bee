"""Reads a pagescope trace: checks the framing and decodes records into typed events.

    stream  = header record*                       (trace/FORMAT.md has the byte diagram)
    header  = fixed part (TRACE_STREAM_HEADER) + command line + build id
    record  = type u8 | flags u8 | length u16 | seq u32 | timestamp u64 | payload

Every record is checked as it is read: known type, a length that matches its payload, seq
exactly one more than the previous record's, nothing after trace_end. The first violation raises
TraceError with the byte offset, and nothing is guessed past it. Array records split in parts
(TRACE_FLAG_CONTINUED) are joined back into one event by `events()`. The reader knows the format
only through analyzer.events (parsed from trace/events.def).
"""

from dataclasses import dataclass
from pathlib import Path

from .events import FORMAT, LENGTH_PREFIX


class TraceError(Exception):
    """The trace is not well formed; `offset` is the byte where the problem was found."""

    def __init__(self, message, offset):
        super().__init__(message)
        self.offset = offset

    def __str__(self):
        return f"{self.args[0]} (at byte {self.offset})"


@dataclass(frozen=True)
class StreamHeader:
    fields: dict  # every TRACE_STREAM_HEADER field by name
    cmdline: str
    build_id: str

    def __getattr__(self, name):
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None

    def value_name(self, group, field_name=None):
        """The name of a named-value field ("tsc", "pagetable", ...), or its number if unknown."""
        number = self.fields[field_name or group]
        return FORMAT.values[group].get(number, str(number))


@dataclass(frozen=True)
class RawRecord:
    """One record as framed in the stream, before its parts are joined."""

    offset: int
    type: int
    flags: int
    length: int
    seq: int
    timestamp: int
    event: object  # the decoded namedtuple of this record alone


def decode_header(data, fmt=FORMAT):
    """Parses the stream header at the start of data; returns (StreamHeader, bytes it used)."""
    layout = fmt.stream_header
    if len(data) < layout.size:
        raise TraceError(f"file too short for a trace header ({len(data)} bytes)", 0)
    fields = dict(zip(layout.names, layout.codec.unpack_from(data, 0)))
    if fields["magic"] != fmt.constants["TRACE_MAGIC"]:
        raise TraceError(f"bad magic {bytes(data[:8])!r}: not a pagescope trace", 0)
    if fields["version"] != fmt.constants["TRACE_FORMAT_VERSION"]:
        raise TraceError(f"format version {fields['version']}, this reader knows "
                         f"{fmt.constants['TRACE_FORMAT_VERSION']}", 8)
    size = layout.size + fields["cmdline_bytes"] + fields["build_id_bytes"]
    if fields["header_bytes"] != size:
        raise TraceError(f"header says {fields['header_bytes']} bytes, its parts add up to {size}",
                         10)
    if len(data) < size:
        raise TraceError("file ends inside the trace header", len(data))
    strings = bytes(data[layout.size:size])
    cmdline = strings[:fields["cmdline_bytes"]].decode("utf-8", "replace")
    build_id = strings[fields["cmdline_bytes"]:].decode("utf-8", "replace")
    return StreamHeader(fields, cmdline, build_id), size


class TraceReader:
    """A trace in memory. `header` is parsed on construction; records are decoded on demand."""

    def __init__(self, data, fmt=FORMAT):
        self.data = memoryview(data)
        self.format = fmt
        self.header, self.records_offset = decode_header(self.data, fmt)

    @classmethod
    def open(cls, path):
        return cls(Path(path).read_bytes())

    def records(self):
        """Yields every RawRecord in stream order, checking framing and sequence numbers."""
        data, fmt = self.data, self.format
        header_layout = fmt.record_header
        record_max = fmt.constants["TRACE_RECORD_MAX"]
        end_id = fmt.events_by_name["trace_end"].id
        offset, expected_seq, ended = self.records_offset, 0, False
        while offset < len(data):
            if ended:
                raise TraceError("record after trace_end", offset)
            if len(data) - offset < header_layout.size:
                raise TraceError(f"truncated record header ({len(data) - offset} bytes left)",
                                 offset)
            rtype, flags, length, seq, timestamp = header_layout.codec.unpack_from(data, offset)
            event_type = fmt.events_by_id.get(rtype)
            if event_type is None:
                raise TraceError(f"unknown event type {rtype}", offset)
            if not header_layout.size <= length <= record_max:
                raise TraceError(f"bad record length {length} for {event_type.name}", offset)
            if offset + length > len(data):
                raise TraceError(f"truncated {event_type.name} record: {length} bytes announced, "
                                 f"{len(data) - offset} left", offset)
            if seq != expected_seq:
                raise TraceError(f"sequence gap: expected seq {expected_seq}, found {seq} "
                                 f"({event_type.name}); bytes were lost in transport", offset)
            payload = data[offset + header_layout.size:offset + length]
            event = _decode_payload(event_type, seq, timestamp, payload, offset)
            yield RawRecord(offset, rtype, flags, length, seq, timestamp, event)
            ended = rtype == end_id
            offset += length
            expected_seq = (expected_seq + 1) & 0xFFFFFFFF

    def events(self):
        """Yields decoded events in stream order, array parts joined into one event (which takes
        the seq and timestamp of its first part and appears where its last part was)."""
        continued_flag = self.format.constants["TRACE_FLAG_CONTINUED"]
        open_parts = {}  # event type id -> the joined event so far
        for record in self.records():
            event = record.event
            if record.type in open_parts:
                first = open_parts.pop(record.type)
                event = first._replace(items=first.items + event.items)
            if record.flags & continued_flag:
                if event.event_type.kind != "array":
                    raise TraceError(f"continued flag on {event.event_type.name}, which is not an "
                                     "array event", record.offset)
                open_parts[record.type] = event
                continue
            yield event
        if open_parts:
            names = ", ".join(self.format.events_by_id[t].name for t in open_parts)
            raise TraceError(f"trace ends inside a split record ({names})", len(self.data))


def _decode_payload(event_type, seq, timestamp, payload, offset):
    """Decodes one record's payload into the event type's namedtuple, checking its length."""
    fields = event_type.fields
    kind = event_type.kind
    if len(payload) < event_type.payload_size or (kind == "fixed" and
                                                   len(payload) != event_type.payload_size):
        raise TraceError(f"{event_type.name} payload is {len(payload)} bytes, expected "
                         f"{'' if kind == 'fixed' else 'at least '}{event_type.payload_size}",
                         offset)
    values = fields.codec.unpack_from(payload, 0)
    if kind == "fixed":
        return event_type.record(seq, timestamp, *values)
    (count,) = LENGTH_PREFIX.unpack_from(payload, fields.size)
    rest = payload[event_type.payload_size:]
    if kind == "string":
        if count != len(rest):
            raise TraceError(f"{event_type.name} text is {len(rest)} bytes, record says {count}",
                             offset)
        return event_type.record(seq, timestamp, *values, bytes(rest).decode("utf-8", "replace"))
    item = event_type.item
    if count * item.size != len(rest):
        raise TraceError(f"{event_type.name} holds {len(rest)} bytes of items, record says "
                         f"{count} items of {item.size}", offset)
    items = tuple(event_type.item_record._make(item.codec.unpack_from(rest, i * item.size))
                  for i in range(count))
    return event_type.record(seq, timestamp, *values, items)
