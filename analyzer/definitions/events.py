"""The trace format, parsed at import time from trace/events.def, the single definition shared
with the C encoder. Nothing here restates a field or a named value: add an event or a value
(owner, zone, region, flag, page size...) to events.def and it is decoded here as well.

The parser accepts only the macro syntax events.def documents (MACRO(args) with FIELD(type, name)
and VALUE(c_name, number, "name") lists, quoted doc strings, C comments); anything else is a
FormatDefinitionError, so a mistake in events.def fails loudly at import instead of decoding
garbage.
"""

import ast
import collections
import keyword
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

# analyzer/definitions/events.py: three levels below the repository root
REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DEF = REPO_ROOT / "trace" / "events.def"

FIELD_TYPES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}
EVENT_KINDS = {"TRACE_EVENT": "fixed", "TRACE_STRING_EVENT": "string", "TRACE_ARRAY_EVENT": "array",
               "TRACE_ATTRIBUTED_EVENT": "fixed"}
# An attributed event (an allocation) is a fixed event with this field appended: its call chain.
ATTRIBUTED_FIELD = ("u32", "chain")
# The three framing layouts: the stream's header, each chunk's, each record's.
HEADERS = ("TRACE_STREAM_HEADER", "TRACE_CHUNK_HEADER", "TRACE_RECORD_HEADER")
# The u16 that ends the payload of string (text byte count) and array (item count) events.
LENGTH_PREFIX = struct.Struct("<H")


class FormatDefinitionError(Exception):
    """events.def does not say what the parser expects."""


@dataclass(frozen=True)
class Layout:
    """A packed little-endian sequence of fixed-width fields."""

    names: tuple
    types: tuple
    codec: struct.Struct

    @classmethod
    def of(cls, pairs):
        names = tuple(n for _, n in pairs)
        types = tuple(t for t, _ in pairs)
        return cls(names, types, struct.Struct("<" + "".join(FIELD_TYPES[t] for t in types)))

    @property
    def size(self):
        return self.codec.size

    def max_values(self):
        """The largest value of each field, in field order."""
        return tuple((1 << (8 * struct.calcsize(FIELD_TYPES[t]))) - 1 for t in self.types)


@dataclass(frozen=True)
class EventType:
    """One event of events.def. `record` builds its decoded form (a namedtuple)."""

    name: str
    id: int
    kind: str  # "fixed", "string" or "array"
    doc: str
    fields: Layout
    item: Layout = None  # array events only
    record: type = field(default=None, compare=False)  # namedtuple of a decoded event
    item_record: type = field(default=None, compare=False)  # namedtuple of one array item

    @property
    def payload_size(self):
        """Bytes after the record header before any text or items."""
        return self.fields.size + (0 if self.kind == "fixed" else LENGTH_PREFIX.size)


@dataclass(frozen=True)
class TraceFormat:
    constants: dict
    values: dict  # group -> {number: name}, e.g. values["owner"][3] == "slab"
    value_names: dict  # C enumerator -> name, e.g. value_names["MM_OWNER_SLAB"] == "slab"
    value_numbers: dict  # C enumerator -> number, e.g. value_numbers["MM_OWNER_SLAB"] == 3
    stream_header: Layout
    chunk_header: Layout
    record_header: Layout
    events_by_id: dict
    events_by_name: dict


def _strip_comments(text):
    """Removes C comments, keeping string literals (which may contain '/*') intact."""
    token = re.compile(r'"(?:\\.|[^"\\])*"|/\*.*?\*/|//[^\n]*', re.S)
    return token.sub(lambda m: m.group(0) if m.group(0).startswith('"') else " ", text)


def _macro_calls(text, where):
    """Yields (macro name, [raw args]) for each top-level NAME(...) in text."""
    pos = 0
    call = re.compile(r"\s*([A-Za-z_]\w*)\s*\(")
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return
        m = call.match(text, pos)
        if not m:
            raise FormatDefinitionError(f"{where}: unexpected text: {text[pos:pos + 40]!r}")
        args, pos = _split_args(text, m.end(), where)
        yield m.group(1), args


def _split_args(text, pos, where):
    """Splits the arguments of a call whose '(' ends just before pos; returns (args, end)."""
    depth, start, args = 0, pos, []
    while pos < len(text):
        c = text[pos]
        if c == '"':
            end = re.compile(r'"(?:\\.|[^"\\])*"').match(text, pos)
            pos = end.end()
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                args.append(text[start:pos].strip())
                return args, pos + 1
            depth -= 1
        elif c == "," and depth == 0:
            args.append(text[start:pos].strip())
            start = pos + 1
        pos += 1
    raise FormatDefinitionError(f"{where}: unbalanced parentheses")


def _field_list(text, where):
    """Parses 'FIELD(u64, addr) FIELD(u32, pages)' into [(type, name), ...]."""
    pairs = []
    for macro, args in _macro_calls(text, where):
        if macro != "FIELD" or len(args) != 2:
            raise FormatDefinitionError(f"{where}: expected FIELD(type, name), got {macro}")
        ftype, name = args
        if ftype not in FIELD_TYPES:
            raise FormatDefinitionError(f"{where}: field {name}: unknown type {ftype}")
        if not name.isidentifier() or keyword.iskeyword(name):
            raise FormatDefinitionError(f"{where}: field name {name!r} is not usable in Python")
        if name in (n for _, n in pairs):
            raise FormatDefinitionError(f"{where}: field {name} appears twice")
        pairs.append((ftype, name))
    return pairs


def _string(literal, where):
    if not (literal.startswith('"') and literal.endswith('"')):
        raise FormatDefinitionError(f"{where}: expected a string literal, got {literal!r}")
    return ast.literal_eval(literal)


def _integer(literal, where):
    try:
        return int(literal.rstrip("uUlL"), 0)
    except ValueError:
        raise FormatDefinitionError(f"{where}: expected an integer, got {literal!r}") from None


def _record_class(event):
    tail = {"fixed": [], "string": ["text"], "array": ["items"]}[event.kind]
    names = ["seq", "timestamp", *event.fields.names, *tail]  # seq: the record's index
    if len(set(names)) != len(names):
        raise FormatDefinitionError(f"event {event.name}: a field is named like a record attribute")
    cls = collections.namedtuple(event.name, names)
    cls.event_type = event
    return cls


def _value_list(text, where):
    """Parses 'VALUE(C_NAME, 3, "name") ...' into ({number: name}, {C_NAME: (number, name)});
    numbers and names unique in the group."""
    values, c_names = {}, {}
    for macro, args in _macro_calls(text, where):
        if macro != "VALUE" or len(args) != 3:
            raise FormatDefinitionError(
                f"{where}: expected VALUE(c_name, number, name), got {macro}")
        number, name = _integer(args[1], where), _string(args[2], where)
        if not 0 <= number < 256 or number in values or name in values.values():
            raise FormatDefinitionError(f"{where}: value {args[0]}: bad or duplicate number/name")
        values[number] = name
        c_names[args[0]] = (number, name)
    if not values:
        raise FormatDefinitionError(f"{where}: a group needs at least one VALUE")
    return values, c_names


def parse_format(events_def_text):
    """Builds a TraceFormat from the text of events.def."""
    constants, values, value_names, value_numbers, headers, events = {}, {}, {}, {}, {}, []
    for macro, args in _macro_calls(_strip_comments(events_def_text), "events.def"):
        where = f"events.def: {macro}({args[0] if args else ''})"
        if macro == "TRACE_CONSTANT" and len(args) == 3:
            constants[args[0]] = _integer(args[1], where)
        elif macro == "TRACE_VALUES" and len(args) == 4:
            if args[0] in values:
                raise FormatDefinitionError(f"{where}: group defined twice")
            _string(args[2], where)
            values[args[0]], c_names = _value_list(args[3], where)
            if value_names.keys() & c_names.keys():
                raise FormatDefinitionError(f"{where}: a C name is used by another group")
            value_names.update((c, name) for c, (_, name) in c_names.items())
            value_numbers.update((c, number) for c, (number, _) in c_names.items())
        elif macro in HEADERS and len(args) == 1:
            headers[macro] = Layout.of(_field_list(args[0], where))
        elif macro in EVENT_KINDS and len(args) == (5 if macro == "TRACE_ARRAY_EVENT" else 4):
            kind = EVENT_KINDS[macro]
            item = Layout.of(_field_list(args[4], where)) if kind == "array" else None
            fields = _field_list(args[3], where)
            if macro == "TRACE_ATTRIBUTED_EVENT":
                fields = [*fields, ATTRIBUTED_FIELD]
            event = EventType(args[0], _integer(args[1], where), kind, _string(args[2], where),
                              Layout.of(fields), item)
            item_record = collections.namedtuple(f"{event.name}_item", item.names) if item else None
            events.append(EventType(event.name, event.id, kind, event.doc, event.fields, item,
                                    _record_class(event), item_record))
        else:
            raise FormatDefinitionError(f"{where}: unknown macro or wrong argument count")
    for required in HEADERS:
        if required not in headers:
            raise FormatDefinitionError(f"events.def: {required} is missing")
    by_id, by_name = {}, {}
    for event in events:
        if not 0 < event.id < 256 or event.id in by_id or event.name in by_name:
            raise FormatDefinitionError(f"events.def: event {event.name}: bad or duplicate id/name")
        by_id[event.id] = by_name[event.name] = event
    return TraceFormat(constants, values, value_names, value_numbers,
                       headers["TRACE_STREAM_HEADER"], headers["TRACE_CHUNK_HEADER"],
                       headers["TRACE_RECORD_HEADER"], by_id, by_name)


def load_format(events_def=EVENTS_DEF):
    return parse_format(Path(events_def).read_text())


FORMAT = load_format()
# The page every address and page count of the trace is in (events.def TRACE_PAGE_BYTES).
PAGE = FORMAT.constants["TRACE_PAGE_BYTES"]
if PAGE <= 0 or PAGE & (PAGE - 1):
    raise FormatDefinitionError(f"TRACE_PAGE_BYTES {PAGE} is not a power of two")
# log2(PAGE): an address shifted right by it is its page frame number.
PAGE_SHIFT = PAGE.bit_length() - 1
