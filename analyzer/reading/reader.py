"""Reads a pagescope trace: checks the framing and decodes records into typed events.

    stream  = header chunk*                        (trace/FORMAT.md has the byte diagram)
    header  = fixed part (TRACE_STREAM_HEADER) + command line + build id
    chunk   = bytes u32 | number u32 | record+     (the records fill exactly `bytes`)
    record  = type u8 | flags u8 | length u16 | timestamp u64 | payload

Every chunk is checked before any of its records is handed out: its number one more than the
previous chunk's, its records filling exactly its bytes (a gap of lost bytes breaks one or the
other), each record with a known type and a length that matches its payload, nothing after
trace_end. The first violation raises TraceError with the byte offset, and nothing is guessed
past it. A record's `seq` is its index in the stream (0, 1, 2, ...), counted here: the format
carries none. Array records split in parts (TRACE_FLAG_CONTINUED) are joined back into one event
by `events()`. The reader knows the format only through analyzer.definitions.events (parsed from
trace/events.def).
"""

import struct
from array import array
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..definitions.events import FIELD_TYPES, FORMAT, LENGTH_PREFIX


class TraceError(Exception):
    """The trace is not well formed; `offset` is the byte where the problem was found. Printed
    as `offset N: reason`, the form every subcommand reports it in."""

    def __init__(self, message, offset, path=None):
        super().__init__(message)
        self.offset = offset
        self.path = path  # the file, when the reader was opened from one

    @property
    def reason(self):
        return self.args[0]

    def __str__(self):
        return f"offset {self.offset}: {self.args[0]}"


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


class RawRecord(NamedTuple):
    """One record as framed in the stream, before its parts are joined."""

    offset: int
    type: int
    flags: int
    length: int
    seq: int  # the record's index in the stream
    timestamp: int
    event: object  # the decoded namedtuple of this record alone


# A clock outside this range is not a timestamp counter (0 means "unknown" and is allowed).
PLAUSIBLE_CLOCK_HZ = range(10**6, 10**11 + 1)


# Fields that hold a set of flag bits of a TRACE_VALUES group rather than one value.
FLAG_SET_FIELDS = {"flags": "vm_flag"}


def named_value_groups(fmt, event_name, field_names):
    """{field: allowed values} for the fields of one layout that hold named values: a field named
    like a TRACE_VALUES group (or `<event>_<field>`, as loss.reason is `loss_reason`), and the
    flag-set fields (any combination of the group's bits)."""
    groups = {}
    for name in field_names:
        if name in fmt.values:
            groups[name] = fmt.values[name]
        elif f"{event_name}_{name}" in fmt.values:
            groups[name] = fmt.values[f"{event_name}_{name}"]
        elif name in FLAG_SET_FIELDS:
            bits = 0
            for bit in fmt.values[FLAG_SET_FIELDS[name]]:
                bits |= bit
            groups[name] = range(bits + 1) if bits & (bits + 1) == 0 else \
                {v for v in range(256) if v & ~bits == 0}
    return groups


def decode_header(data, fmt=FORMAT):
    """Parses and checks the stream header at the start of data; returns (StreamHeader, bytes it
    used). Every field must hold a value the format allows."""
    layout = fmt.stream_header
    if len(data) < layout.size:
        raise TraceError(f"file too short for a trace header ({len(data)} bytes)", 0)
    fields = dict(zip(layout.names, layout.codec.unpack_from(data, 0)))
    offsets = dict(zip(layout.names, _field_offsets(layout)))
    if fields["magic"] != fmt.constants["TRACE_MAGIC"]:
        raise TraceError(f"bad magic {bytes(data[:8])!r}: not a pagescope trace", 0)
    if fields["version"] != fmt.constants["TRACE_FORMAT_VERSION"]:
        raise TraceError(f"format version {fields['version']}, this reader knows "
                         f"{fmt.constants['TRACE_FORMAT_VERSION']}", offsets["version"])
    size = layout.size + fields["cmdline_bytes"] + fields["build_id_bytes"]
    if fields["header_bytes"] != size:
        raise TraceError(f"header says {fields['header_bytes']} bytes, its parts add up to {size}",
                         offsets["header_bytes"])
    for name, names in named_value_groups(fmt, "header", layout.names).items():
        if fields[name] not in names:
            raise TraceError(f"header {name} is {fields[name]}, not one of "
                             f"{', '.join(f'{v} ({n})' for v, n in sorted(names.items()))}",
                             offsets[name])
    if fields["clock_hz"] and fields["clock_hz"] not in PLAUSIBLE_CLOCK_HZ:
        raise TraceError(f"header clock_hz {fields['clock_hz']} is not a plausible clock "
                         f"(0 for unknown, else {PLAUSIBLE_CLOCK_HZ.start:.0e} to "
                         f"{PLAUSIBLE_CLOCK_HZ.stop - 1:.0e} Hz)", offsets["clock_hz"])
    if fields["first_timestamp"] > fields["start_timestamp"]:
        raise TraceError(f"header first_timestamp {fields['first_timestamp']} is after its own "
                         f"start_timestamp {fields['start_timestamp']}", offsets["first_timestamp"])
    if len(data) < size:
        raise TraceError("file ends inside the trace header", len(data))
    strings = bytes(data[layout.size:size])
    try:
        cmdline = strings[:fields["cmdline_bytes"]].decode("utf-8")
        build_id = strings[fields["cmdline_bytes"]:].decode("utf-8")
    except UnicodeDecodeError as e:
        raise TraceError(f"header text is not UTF-8 ({e.reason})", layout.size + e.start) from None
    for name, text, start in (("command line", cmdline, layout.size),
                              ("build id", build_id, layout.size + fields["cmdline_bytes"])):
        control = next((i for i, c in enumerate(text) if ord(c) < 0x20 or ord(c) == 0x7F), None)
        if control is not None:  # the kernel writes a command line GRUB passed (printable) and
            # a build id from `git describe`: a control character is damage, never a value
            raise TraceError(f"header {name} contains the control character "
                             f"{text[control]!r}", start + len(text[:control].encode()))
    _check_cmdline_agrees(fields, cmdline, fmt, offsets)
    return StreamHeader(fields, cmdline, build_id), size


# Kernel command-line words that choose a header value: word -> (header field, {value: name}),
# the names being those of events.def's groups.
CMDLINE_HEADER_WORDS = {"vmm": ("vmm_backend", None),
                        "trace": ("trace_mode",
                                  {"on": FORMAT.value_names["TRACE_MODE_CODE_LOSSLESS"],
                                   "drop": FORMAT.value_names["TRACE_MODE_CODE_DROP"]})}


def _check_cmdline_agrees(fields, cmdline, fmt, offsets):
    """The header's boot configuration must be what the command line in it asked for."""
    for word in cmdline.split():
        key, _, value = word.partition("=")
        if key in CMDLINE_HEADER_WORDS:
            name, meaning = CMDLINE_HEADER_WORDS[key]
            wanted = meaning.get(value, value) if meaning else value
            actual = fmt.values[name][fields[name]]
            if actual != wanted:
                raise TraceError(f"header {name} is {actual}, but the command line says {word}",
                                 offsets[name])


def _check_first_timestamp(header, timestamp, name, offset):
    """The header states the stream's first clock reading: the first record's time when the kernel
    recorded it before writing the header, else the header's own time (trace_first_timestamp)."""
    first = min(timestamp, header.start_timestamp)
    if header.first_timestamp != first:
        raise TraceError(f"{name} timestamp {timestamp} (the first record's) disagrees with the "
                         f"header: its first_timestamp is {header.first_timestamp}, and "
                         f"min(first record, start_timestamp {header.start_timestamp}) is "
                         f"{first}", offset)


def _field_offsets(layout):
    offset = 0
    for ftype in layout.types:
        yield offset
        offset += struct.calcsize(FIELD_TYPES[ftype])


class _TypeInfo(NamedTuple):
    """What the record loop needs about one event id, computed once per reader."""

    event_type: object
    name: str
    kind: str
    fixed_length: int  # whole record length of a fixed event; 0 for strings and arrays
    min_length: int
    codec: object
    item_size: int  # array events only
    record: type
    checks: tuple  # (field index, field name, {value: name}) of named-value fields


class TraceReader:
    """A trace in memory. `header` is parsed and checked on construction; records are decoded
    and checked on demand. `record_offsets[seq]` is the byte offset of record `seq` once
    records() has passed it (so a problem found later can name its offset)."""

    def __init__(self, data, fmt=FORMAT, path=None):
        self.data = memoryview(data)
        self.format = fmt
        self.path = path
        with self._naming_the_file():
            self.header, self.records_offset = decode_header(self.data, fmt)
        self.record_offsets = array("Q")
        header_size = fmt.record_header.size
        self._types = {}
        for type_id, et in fmt.events_by_id.items():
            groups = named_value_groups(fmt, et.name, et.fields.names)
            checks = tuple((et.fields.names.index(n), n, g) for n, g in groups.items())
            self._types[type_id] = _TypeInfo(
                et, et.name, et.kind,
                header_size + et.payload_size if et.kind == "fixed" else 0,
                header_size + et.payload_size, et.fields.codec,
                et.item.size if et.item else 0, et.record, checks)

    @classmethod
    def open(cls, path):
        """Reads the whole file once (OSError if it cannot be read)."""
        return cls(Path(path).read_bytes(), path=str(path))

    @contextmanager
    def _naming_the_file(self):
        try:
            yield
        except TraceError as e:
            e.path = e.path or self.path
            raise

    def offset_of(self, seq):
        """Byte offset of the record with this seq (records() must have passed it)."""
        return self.record_offsets[seq] if 0 <= seq < len(self.record_offsets) else len(self.data)

    def records(self):
        """Yields every RawRecord in stream order. Checks, stopping with TraceError at the first
        violation, each chunk whole before yielding any of its records: its number one more than
        the previous chunk's, records that fill exactly its bytes; per record: known type (and
        not above the header's max_event_id), a length that matches the payload, timestamps that
        never go back, only defined flag bits, CONTINUED only on array events and followed by the
        next part, named-value fields inside their set, nothing after trace_end."""
        with self._naming_the_file():
            yield from self._records()

    def _records(self):
        data, size = self.data, len(self.data)
        chunk_codec = self.format.chunk_header.codec
        chunk_header = self.format.chunk_header.size
        offset, number, state = self.records_offset, 0, _RecordState()
        del self.record_offsets[:]
        while offset < size:
            if state.ended:
                raise TraceError("bytes after trace_end", offset)
            if size - offset < chunk_header:
                raise TraceError(f"truncated chunk header ({size - offset} bytes left)", offset)
            chunk_bytes, chunk_number = chunk_codec.unpack_from(data, offset)
            if chunk_number != number:
                raise TraceError(f"chunk gap: expected chunk {number}, found {chunk_number}; "
                                 "bytes were lost in transport", offset)
            if chunk_bytes <= chunk_header:
                raise TraceError(f"chunk {number} is {chunk_bytes} bytes: no room for a record",
                                 offset)
            if offset + chunk_bytes > size:
                raise TraceError(f"truncated chunk {number}: {chunk_bytes} bytes announced, "
                                 f"{size - offset} left", offset)
            # the whole chunk first: a gap inside it is found before any record after it is used
            records = list(self._chunk_records(offset + chunk_header, offset + chunk_bytes,
                                               state, f"chunk {number} at offset {offset}"))
            yield from records
            offset += chunk_bytes
            number = (number + 1) & 0xFFFFFFFF

    def _chunk_records(self, offset, end, state, chunk):
        """The records of one chunk, [offset, end): they must fill it exactly. A record that
        cannot be framed there says so, and that the chunk is not whole records (lost bytes
        look like this too: a following chunk's header read as a record, a record cut short)."""
        data, fmt = self.data, self.format
        header_codec = fmt.record_header.codec
        header_size = fmt.record_header.size
        record_max = fmt.constants["TRACE_RECORD_MAX"]
        continued = fmt.constants["TRACE_FLAG_CONTINUED"]
        known_flags = sum(v for k, v in fmt.constants.items() if k.startswith("TRACE_FLAG_"))
        end_id = fmt.events_by_name["trace_end"].id
        max_id = self.header.max_event_id
        types = self._types
        append_offset = self.record_offsets.append
        open_parts = state.open_parts  # type ids with a CONTINUED part waiting for the next part
        lost = (f"; {chunk} is not filled by whole records: bytes were lost in transport, or "
                "the record is damaged")
        while offset < end:
            if state.ended:
                raise TraceError("record after trace_end", offset)
            if end - offset < header_size:
                raise TraceError(f"{end - offset} bytes left for a record header" + lost, offset)
            rtype, flags, length, timestamp = header_codec.unpack_from(data, offset)
            info = types.get(rtype)
            if info is None or rtype > max_id:
                raise TraceError(f"unknown event type {rtype}" + (
                    f" (the header's max_event_id is {max_id})" if info else "") + lost, offset)
            if (length != info.fixed_length if info.fixed_length else
                    not info.min_length <= length <= record_max):
                if not header_size <= length <= record_max:
                    raise TraceError(f"bad record length {length} for {info.name}" + lost, offset)
                raise TraceError(f"{info.name} payload is {length - header_size} bytes, expected "
                                 f"{'' if info.fixed_length else 'at least '}"
                                 f"{info.min_length - header_size}" + lost, offset)
            if offset + length > end:
                raise TraceError(f"{info.name} record of {length} bytes crosses the end of its "
                                 f"chunk, {end - offset} bytes on" + lost, offset)
            if timestamp < state.last_timestamp:
                raise TraceError(f"{info.name} timestamp {timestamp} is before the previous "
                                 f"record's {state.last_timestamp}", offset)
            seq = state.seq
            if seq == 0:
                _check_first_timestamp(self.header, timestamp, info.name, offset)
            if flags:
                if flags & ~known_flags:
                    raise TraceError(f"{info.name} has undefined flag bits "
                                     f"{flags & ~known_flags:#x}", offset)
                if info.kind != "array":
                    raise TraceError(f"continued flag on {info.name}, which is not an array event",
                                     offset)
            if open_parts and rtype == end_id:
                raise TraceError("trace ends inside a split record (" + ", ".join(
                    types[t].name for t in sorted(open_parts)) + ")", offset)
            if info.kind == "fixed":
                values = info.codec.unpack_from(data, offset + header_size)
                event = info.record(seq, timestamp, *values)
            else:
                event = _decode_variable(info, seq, timestamp, data[offset + header_size:
                                                                    offset + length], offset)
                values = event
                if flags & continued:
                    if length + info.item_size <= record_max:
                        raise TraceError(f"{info.name} part marked CONTINUED has room for more "
                                         "items (the kernel fills every part but the last)",
                                         offset)
                    open_parts.add(rtype)
                else:
                    open_parts.discard(rtype)
            for index, name, names in info.checks:
                value = values[index] if info.kind == "fixed" else values[index + 2]
                if value not in names:
                    raise TraceError(f"{info.name} {name} is {value}, not a known {name}", offset)
            append_offset(offset)
            yield RawRecord(offset, rtype, flags, length, seq, timestamp, event)
            offset += length
            state.seq += 1
            state.last_timestamp = timestamp
            state.ended = rtype == end_id

    def events(self, on_record=None):
        """Yields decoded events in stream order, array parts joined into one event (which takes
        the seq and timestamp of its first part and appears where its last part was). Every part
        must repeat the first part's fields. `on_record(RawRecord)`, if given, sees each record
        first (so one pass can both summarise records and replay events)."""
        with self._naming_the_file():
            yield from self._joined_events(on_record)

    def _joined_events(self, on_record):
        continued_flag = self.format.constants["TRACE_FLAG_CONTINUED"]
        open_parts = {}  # event type id -> the joined event so far
        for record in self.records():
            if on_record is not None:
                on_record(record)
            event = record.event
            first = open_parts.pop(record.type, None)
            if first is not None:
                if event[2:-1] != first[2:-1]:
                    raise TraceError(f"{type(event).__name__} part does not repeat the fields "
                                     "of its first part", record.offset)
                event = first._replace(items=first.items + event.items)
            if record.flags & continued_flag:
                open_parts[record.type] = event
                continue
            yield event
        if open_parts:
            names = ", ".join(self.format.events_by_id[t].name for t in open_parts)
            raise TraceError(f"trace ends inside a split record ({names})", len(self.data))


class _RecordState:
    """What the record checks carry from one chunk to the next."""

    def __init__(self):
        self.seq = 0  # index of the next record
        self.last_timestamp = 0
        self.ended = False  # trace_end was read
        self.open_parts = set()


def _decode_variable(info, seq, timestamp, payload, offset):
    """Decodes a string or array record's payload into its namedtuple, checking its length."""
    event_type = info.event_type
    fields = event_type.fields
    values = fields.codec.unpack_from(payload, 0)
    (count,) = LENGTH_PREFIX.unpack_from(payload, fields.size)
    rest = payload[event_type.payload_size:]
    if info.kind == "string":
        if count != len(rest):
            raise TraceError(f"{info.name} text is {len(rest)} bytes, record says {count}",
                             offset)
        if count > FORMAT.constants["TRACE_STRING_MAX"]:
            raise TraceError(f"{info.name} text is {count} bytes, longer than the format allows",
                             offset)
        try:
            text = bytes(rest).decode("utf-8")
        except UnicodeDecodeError:
            # The kernel cuts text at a byte count, which may split a character.
            text = bytes(rest).decode("utf-8", "replace")
        return info.record(seq, timestamp, *values, text)
    item = event_type.item
    if count * item.size != len(rest):
        raise TraceError(f"{info.name} holds {len(rest)} bytes of items, record says "
                         f"{count} items of {item.size}", offset)
    make = event_type.item_record._make
    items = tuple(map(make, item.codec.iter_unpack(rest))) if count else ()
    return info.record(seq, timestamp, *values, items)
