"""The single format definition proves itself: the kernel's C encoders write every event type
with edge values (zero, the maximum of each width, long text, snapshots split over many parts)
and the Python reader, built from the same events.def, decodes each field back unchanged."""

import subprocess

from analyzer.definitions.events import FORMAT
from analyzer.reading.reader import TraceReader, named_value_groups
from analyzer.reading.summary import summarize

CLOCK_START, CLOCK_STEP = 1000, 7
STRING_MAX = FORMAT.constants["TRACE_STRING_MAX"]
HEADER = dict(clock=1, clock_hz=1_000_000_000, start_timestamp=999, vmm_backend=1, trace_mode=0,
              memory_bytes=(1 << 64) - 1, cmdline="test vmm=list trace=on " + "x" * 100,
              build_id="abc123-dirty")
ARRAY_SIZES = (0, 1, 2, 1000)  # 1000 items of 16 bytes need four 4 KiB parts
TEXTS = ("", "a", "phase:alloc-free", "long-" * 80)  # the last one exceeds TRACE_STRING_MAX


def field_value_sets(layout, event_name=""):
    """Zeros, maxima, and a pattern that differs in every byte of every field; a field of named
    values (which the reader refuses outside their set) takes its smallest, largest and middle
    allowed value instead."""
    maxima = layout.max_values()
    pattern = tuple((0x8877665544332211 + i * 0x0101010101010101) & m
                    for i, m in enumerate(maxima))
    sets = [[0] * len(maxima), list(maxima), list(pattern)]
    groups = named_value_groups(FORMAT, event_name, layout.names)
    for i, name in enumerate(layout.names):
        if name in groups:
            allowed = sorted(groups[name])
            for values, pick in zip(sets, (allowed[0], allowed[-1], allowed[len(allowed) // 2])):
                values[i] = pick
    return [tuple(values) for values in sets]


def c_literal(value):
    return f"{value:#x}ULL"


def c_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def planned_events():
    """[(C statement, expected decoded event minus seq/timestamp)] for every event type."""
    plan = []
    for event in FORMAT.events_by_id.values():
        if event.name == "trace_end":
            continue  # written by trace_finish, checked through summarize()
        for values in field_value_sets(event.fields, event.name):
            args = "".join(", " + c_literal(v) for v in values)
            if event.kind == "fixed":
                plan.append((f"trace_emit_{event.name}(t{args});", (event.name, values)))
            elif event.kind == "string":
                for text in TEXTS:
                    plan.append((f"trace_emit_{event.name}(t{args}, {c_string(text)});",
                                 (event.name, values + (text[:STRING_MAX],))))
            else:
                for size in ARRAY_SIZES:
                    items = [field_value_sets(event.item)[i % 3] if i < 3 else
                             tuple((i * 0x1000 + j) & m
                                   for j, m in enumerate(event.item.max_values()))
                             for i in range(size)]
                    calls = [f"trace_emit_{event.name}_begin(t{args});"]
                    calls += [f"trace_emit_{event.name}_add(t" +
                              "".join(", " + c_literal(v) for v in item) + ");" for item in items]
                    calls.append(f"trace_array_end(t, TRACE_ID_{event.name});")
                    plan.append(("\n".join(calls), (event.name, values + (tuple(items),))))
    return plan


def header_config(calls_path):
    h = HEADER
    info = (f"{{ .clock = {h['clock']}, .clock_hz = {h['clock_hz']}ULL, "
            f".start_timestamp = {h['start_timestamp']}, .vmm_backend = {h['vmm_backend']}, "
            f".trace_mode = {h['trace_mode']}, .memory_bytes = {c_literal(h['memory_bytes'])}, "
            f".cmdline = {c_string(h['cmdline'])}, .build_id = {c_string(h['build_id'])} }}")
    return (f"#define FAKE_CLOCK_START {CLOCK_START}\n#define FAKE_CLOCK_STEP {CLOCK_STEP}\n"
            f"#define HEADER_INFO {info}\n#define EVENT_CALLS \"{calls_path}\"\n")


def encode(build_encoder, tmp_path, plan):
    calls = tmp_path / "calls.inc"
    calls.write_text("\n".join(statement for statement, _ in plan) + "\n")
    binary = build_encoder(header_config(calls), "roundtrip")
    out = tmp_path / "roundtrip.trace"
    subprocess.run([str(binary), str(out)], check=True)
    return TraceReader.open(out)


def decoded(event):
    """An event as (name, field values) without seq and timestamp, items as plain tuples."""
    values = tuple(event)[2:]
    if event.event_type.kind == "array":
        values = values[:-1] + (tuple(tuple(item) for item in values[-1]),)
    return event.event_type.name, values


def test_every_event_type_round_trips_field_by_field(build_encoder, tmp_path):
    plan = planned_events()
    reader = encode(build_encoder, tmp_path, plan)
    events = list(reader.events())
    assert events[-1].event_type.name == "trace_end"
    got = [decoded(e) for e in events[:-1]]
    expected = [(name, tuple(v if not isinstance(v, list) else tuple(v) for v in values))
                for _, (name, values) in plan]
    assert len(got) == len(expected)
    for index, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"event {index}"
    assert {name for name, _ in got} | {"trace_end"} == set(FORMAT.events_by_name)


def test_header_and_framing_round_trip(build_encoder, tmp_path):
    reader = encode(build_encoder, tmp_path, planned_events()[:50])
    header = reader.header
    for name in ("clock", "clock_hz", "start_timestamp", "vmm_backend", "trace_mode",
                 "memory_bytes"):
        assert getattr(header, name) == HEADER[name], name
    assert header.cmdline == HEADER["cmdline"] and header.build_id == HEADER["build_id"]
    assert header.value_name("clock") == "fake"
    records = list(reader.records())
    assert [r.seq for r in records] == list(range(len(records)))
    assert [r.timestamp for r in records] == [CLOCK_START + CLOCK_STEP * (n + 1)
                                              for n in range(len(records))]
    summary = summarize(reader)
    assert summary.problems == []
    assert summary.end.records == len(records) - 1


def test_split_snapshot_parts_carry_the_continued_flag(build_encoder, tmp_path):
    plan = [p for p in planned_events() if p[1][0] == "vmm_snapshot" and len(p[1][1][-1]) == 1000]
    reader = encode(build_encoder, tmp_path, plan[:1])
    parts = [r for r in reader.records() if r.event.event_type.name == "vmm_snapshot"]
    assert len(parts) == 4
    assert [r.flags for r in parts] == [1, 1, 1, 0]
    assert all(r.length <= FORMAT.constants["TRACE_RECORD_MAX"] for r in parts)
