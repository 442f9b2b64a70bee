"""trace/FORMAT.md agrees with trace/events.def, the one definition it explains: its version,
header and record sizes, byte diagram, named-value groups, constants, tracepoint examples, and
its table of emitters, which names every event of events.def and no other."""

import re

from analyzer.definitions.events import FORMAT
from conftest import REPO

DOC = (REPO / "trace" / "FORMAT.md").read_text()
SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
RECORD_HEADER_BYTES = sum(SIZES[t] for t in FORMAT.record_header.types)


def prose():
    """FORMAT.md without its fenced diagrams, so backquotes pair up."""
    return re.sub(r"```.*?```", "", DOC, flags=re.S)


def section(title):
    start = DOC.index(title)
    end = DOC.find("\n#", start + len(title))
    return DOC[start:end if end >= 0 else len(DOC)]


def record_bytes(name):
    return RECORD_HEADER_BYTES + FORMAT.events_by_name[name].payload_size


def test_the_version_it_names_is_events_defs():
    version = FORMAT.constants["TRACE_FORMAT_VERSION"]
    assert re.search(r"^# pagescope trace format \(version (\d+)\)", DOC).group(1) == str(version)
    assert f"`TRACE_FORMAT_VERSION` ({version})" in DOC


def test_header_sizes_are_the_layouts():
    stream = sum(SIZES[t] for t in FORMAT.stream_header.types)
    assert f"(`TRACE_STREAM_HEADER`, {stream} bytes + strings)" in DOC
    assert f"`header_bytes` = {stream} + `cmdline_bytes` + `build_id_bytes`" in DOC
    assert f"(`TRACE_RECORD_HEADER`, {RECORD_HEADER_BYTES} bytes + payload)" in DOC


def test_every_record_size_it_states_is_events_defs():
    sentence = " ".join(re.search(r"Sizes of the common events[^:]*:(.*?)\.\n", DOC, re.S)
                        .group(1).split())
    stated = {}
    for names, size in re.findall(r"([\w/]+) (\d+)", sentence):
        first, *others = names.split("/")
        prefix = first.rsplit("_", 1)[0] + "_"  # vmm_map/unmap/protect: one family
        for name in [first] + [prefix + other for other in others]:
            stated[name] = int(size)
    assert len(stated) >= 10, sentence
    assert {name: record_bytes(name) for name in stated} == stated


def test_the_pmm_alloc_diagram_is_its_layout():
    event = FORMAT.events_by_name["pmm_alloc"]
    assert f"For example `pmm_alloc` ({record_bytes('pmm_alloc')} bytes" in DOC
    diagram = DOC[DOC.index("For example `pmm_alloc`"):]
    diagram = diagram[diagram.index("```") + 3:]
    offsets_line, _, names_line, types_line = diagram.split("\n")[1:5]
    names = [cell.strip() for cell in names_line.strip().strip("|").split("|")]
    types = [cell.strip() for cell in types_line.strip().strip("|").split("|")]
    assert names == list(event.fields.names)
    assert types == list(event.fields.types)
    offsets = [RECORD_HEADER_BYTES]
    for kind in event.fields.types:
        offsets.append(offsets[-1] + SIZES[kind])
    assert [int(n) for n in offsets_line.split()] == offsets


def test_the_constants_it_quotes_are_events_defs():
    quoted = re.findall(r"`?(TRACE_[A-Z_]+)`?(?: = | \()(0x[0-9a-f]+|\d+)", DOC)
    assert len(quoted) >= 4, quoted
    for name, value in quoted:
        assert FORMAT.constants[name] == int(value, 0), name


def test_it_lists_every_named_value_group_and_no_other():
    paragraph = prose()[prose().index("Every named value a u8 field carries"):]
    paragraph = paragraph[:paragraph.index("C gets its enums")]
    listed = set(re.findall(r"`(\w+)`", paragraph)) - {"TRACE_VALUES", "flags", "region"}
    assert listed == set(FORMAT.values)


def emitter_rows():
    table = section("## Where the kernel emits each event")
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            yield cells


def test_the_emitters_table_names_every_event_and_no_other():
    """'and back': an event added to events.def without a word here fails, as does a row for an
    event that no longer exists. The tracer's own records are explained in their own section."""
    in_table = set()
    for cells in emitter_rows():
        in_table |= set(re.findall(r"`(\w+)`", cells[0])) - {"cost"}
    own = set(re.findall(r"^- `(\w+)[ `]", section("### The tracer's own records"), re.M))
    assert in_table - set(FORMAT.events_by_name) == set()
    assert own - set(FORMAT.events_by_name) == set()
    assert set(FORMAT.events_by_name) - in_table - own == set()


def test_every_field_the_emitters_table_defines_belongs_to_its_events():
    """A meaning written `field` = ... names a field of the row's event (or, for the `cost`
    row, of every event it lists)."""
    checked = 0
    for name_cell, _, meaning in emitter_rows():
        events = [FORMAT.events_by_name[e] for e in re.findall(r"`(\w+)`", name_cell)
                  if e in FORMAT.events_by_name]
        if name_cell == "`cost` field":
            events = [FORMAT.events_by_name[e] for e in re.findall(r"`(\w+)`", _)]
            assert all("cost" in e.fields.names for e in events) and len(events) == 8
            continue
        fields = set()
        for event in events:
            fields |= set(event.fields.names) | set(event.item.names if event.item else ())
        for field in re.findall(r"`(\w+)`(?:/`\w+`)? =", meaning):
            assert field in fields, (name_cell, field)
            checked += 1
    assert checked >= 20


def test_the_field_lists_it_spells_out_are_events_defs():
    spelled = re.findall(r"`(\w+) \{([^}]*)\}`", DOC)
    assert spelled
    for name, fields in spelled:
        event = FORMAT.events_by_name[name]
        pairs = [tuple(f.split()) for f in fields.split(",")]
        assert pairs == list(zip(event.fields.names, event.fields.types)), name


def test_the_tracepoint_examples_take_events_defs_fields():
    """A fixed event's call takes every field; an attributed one every field but `chain`,
    which its encoder fills."""
    calls = re.findall(r"`trace_(\w+)\(([\w, ]+)\)`", section("## Tracepoint API"))
    assert len(calls) >= 2, calls
    for name, args in calls:
        fields = [f for f in FORMAT.events_by_name[name].fields.names if f != "chain"]
        assert [a.strip() for a in args.split(",")] == fields, name


def test_the_event_ids_it_names_are_events_defs():
    named = re.findall(r"`(\w+)` \(id (\d+)", DOC)
    assert ("call_chain", "41") in named, named
    for name, number in named:
        if name in FORMAT.events_by_name:
            assert FORMAT.events_by_name[name].id == int(number), name
        else:  # a retired id stays unused
            assert int(number) not in FORMAT.events_by_id, name


def test_every_emitter_the_table_names_exists_in_the_kernel():
    """The 'emitted by' column names functions; a renamed one leaves the reader looking for
    nothing (it named `pmm_alloc_status` and `protect_table`, which no longer existed)."""
    sources = "\n".join(path.read_text() for path in (REPO / "kernel").rglob("*.[ch]"))
    system_calls = set(re.findall(r"^SYSCALL\(\d+, (\w+)\)",
                                  (REPO / "trace" / "linux_syscalls.def").read_text(), re.M))
    assert "munmap" in system_calls
    named = set()
    for _, emitted_by, _ in emitter_rows():
        for token in re.findall(r"`([^`]+)`", emitted_by):
            if re.fullmatch(r"[a-z_][a-z0-9_]*", token) and \
                    token not in FORMAT.events_by_name and token not in system_calls:
                named.add(token)
    assert len(named) >= 20, named
    missing = sorted(n for n in named if not re.search(rf"\b{n}\b\s*\(", sources))
    assert missing == []
