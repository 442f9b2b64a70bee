"""`analyzer info` and `analyzer check` reject every kind of damaged trace with one clear error
line `error: FILE: offset N: reason` and exit status 3 (4 when the file cannot be read), never a
Python traceback; a sound trace passes `info` with 0. Output files are written atomically."""

import re
import struct
import subprocess
import sys

import pytest

from analyzer.definitions.events import FORMAT
from analyzer.definitions.output import atomic_directory, atomic_file
from analyzer.reading.reader import TraceError, TraceReader

from conftest import REPO

RECORD_HEADER = FORMAT.record_header.codec
CHUNK_HEADER = FORMAT.chunk_header.codec
TIMESTAMP_AT = 4  # in a record header: after type, flags and length (events.def)
# trace_end's payload: records (u64), three loss counts (u64), bytes (u64)
END_RECORDS_AT, END_BYTES_AT = RECORD_HEADER.size, RECORD_HEADER.size + 32
# pmm_alloc's owner: after addr (8), pages (4), held (4), zone (1), align_log2 (1)
PMM_ALLOC_OWNER_AT = RECORD_HEADER.size + 18
# Record 2 of the small trace is a pmm_alloc: its payload size as events.def defines it.
PMM_ALLOC_PAYLOAD = FORMAT.events_by_name["pmm_alloc"].fields.size


def run_info(tmp_path, data, command="info"):
    path = tmp_path / "input.trace"
    path.write_bytes(data)
    return run_info_path(path, command)


def run_info_path(path, command="info"):
    result = subprocess.run([sys.executable, "-m", "analyzer", command, str(path)], cwd=REPO,
                            capture_output=True, text=True)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def record_offsets(data):
    return [r.offset for r in TraceReader(data).records()]


def without_trace_end(data, offsets):
    """The trace as a capture that stopped just before trace_end would hold it: the last chunk
    ends before that record (its header says so)."""
    last = chunks(data)[-1][0]
    return patch(data[:offsets[-1]], last, "<I", offsets[-1] - last)


def patch(data, offset, fmt, value):
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_sound_trace_passes_and_reports_counts(tmp_path, small_trace):
    result = run_info(tmp_path, small_trace)
    assert result.returncode == 0, result.stderr
    assert "pmm_alloc            20" in result.stdout
    assert "pmm_snapshot         4" in result.stdout  # 300 items: two 4 KiB parts, twice
    assert "trace_end matches" in result.stdout
    result = run_info(tmp_path, small_trace, "check")
    assert result.returncode == 0, result.stderr
    assert "every snapshot equals the replay" in result.stdout


@pytest.mark.parametrize("name, damage, message", [
    ("empty file", lambda d, offs: b"", "too short"),
    ("bad magic", lambda d, offs: b"XSTRACE\0" + d[8:], "bad magic"),
    ("newer version", lambda d, offs: patch(d, 8, "<H", 99), "format version 99"),
    ("cut inside the header", lambda d, offs: d[:FORMAT.stream_header.size + 2],
     "inside the trace header"),
    ("cut inside a record header", lambda d, offs: d[:offs[3] + 5], "truncated chunk 0"),
    ("cut inside a payload", lambda d, offs: d[:offs[3] + 20], "truncated chunk 0"),
    ("length too small", lambda d, offs: patch(d, offs[2] + 2, "<H", 4), "bad record length"),
    ("length too big", lambda d, offs: patch(d, offs[2] + 2, "<H", 60000), "bad record length"),
    ("array length zero", lambda d, offs: patch(d, offs[21] + 2, "<H", 0), "bad record length 0"),
    ("length off by one",
     lambda d, offs: patch(d, offs[2] + 2, "<H", RECORD_HEADER.size + PMM_ALLOC_PAYLOAD + 1),
     f"payload is {PMM_ALLOC_PAYLOAD + 1} bytes, expected {PMM_ALLOC_PAYLOAD}"),
    ("record missing", lambda d, offs: d[:offs[4]] + d[offs[5]:], "bytes were lost in transport"),
    ("unknown type", lambda d, offs: patch(d, offs[6], "<B", 200), "unknown event type 200"),
    ("no trace_end", lambda d, offs: without_trace_end(d, offs), "no trace_end record"),
    ("bytes after trace_end", lambda d, offs: d + d[offs[0]:offs[1]], "bytes after trace_end"),
    ("totals disagree", lambda d, offs: patch(d, offs[-1] + END_RECORDS_AT, "<Q", 12345),
     "kernel wrote 12345 records"),
    ("timestamp goes back", lambda d, offs: patch(d, offs[5] + TIMESTAMP_AT, "<Q", 1),
     "timestamp 1 is before the previous record's"),
    ("vmm backend outside its set", lambda d, offs: patch(d, 13, "<B", 7),
     "header vmm_backend is 7, not one of 0 (pagetable), 1 (list)"),
    ("clock outside its set", lambda d, offs: patch(d, 12, "<B", 9), "header clock is 9"),
    ("trace mode outside its set", lambda d, offs: patch(d, 14, "<B", 2), "header trace_mode is 2"),
    ("absurd clock_hz", lambda d, offs: patch(d, 16, "<Q", 1),
     "header clock_hz 1 is not a plausible clock"),
    ("reserved flag bit", lambda d, offs: patch(d, offs[3] + 1, "<B", 4),
     "pmm_alloc has undefined flag bits 0x4"),
    ("high flag bit", lambda d, offs: patch(d, offs[3] + 1, "<B", 0x80),
     "pmm_alloc has undefined flag bits 0x80"),
    ("CONTINUED on a fixed event", lambda d, offs: patch(d, offs[3] + 1, "<B", 1),
     "continued flag on pmm_alloc, which is not an array event"),
    ("owner outside its set", lambda d, offs: patch(d, offs[3] + PMM_ALLOC_OWNER_AT, "<B", 200),
     "pmm_alloc owner is 200"),
])
def test_damaged_trace_is_rejected_with_a_clear_message(tmp_path, small_trace, name, damage,
                                                        message):
    data = damage(small_trace, record_offsets(small_trace))
    for command in ("info", "check"):  # the reader validates, so every subcommand alike
        result = run_info(tmp_path, data, command)
        assert result.returncode == 3, (name, command, result.stdout, result.stderr)
        assert message in result.stderr, (name, command, result.stderr)
        path = re.escape(str(tmp_path / "input.trace"))
        assert re.fullmatch(rf"error: {path}: offset \d+: [^\n]+\n", result.stderr), result.stderr


def chunks(data):
    """(offset, bytes) of every chunk of a sound trace, from its headers."""
    offset, out = TraceReader(data).records_offset, []
    while offset < len(data):
        size, _ = CHUNK_HEADER.unpack_from(data, offset)
        out.append((offset, size))
        offset += size
    return out


def records_before_the_error(data):
    """The offsets of the records the reader hands out before it raises, and the error."""
    seen = []
    try:
        for record in TraceReader(data).records():
            seen.append(record.offset)
    except TraceError as e:
        return seen, e
    return seen, None


def test_the_small_trace_has_several_chunks(small_trace):
    assert len(chunks(small_trace)) >= 3  # the cases below drop and cut inside middle ones


def test_a_dropped_chunk_is_found_at_the_next_one(small_trace):
    """The device lost a whole sub-buffer: the next chunk's number is not the next one, and the
    reader stops there, having handed out no record after the gap."""
    (first, _), (lost, lost_bytes), *_ = chunks(small_trace)
    data = small_trace[:lost] + small_trace[lost + lost_bytes:]
    seen, error = records_before_the_error(data)
    assert error is not None and error.offset == lost
    assert "chunk gap: expected chunk 1, found 2; bytes were lost in transport" in str(error)
    assert seen and max(seen) < lost


@pytest.mark.parametrize("cut", ["one whole record", "a record's last byte", "its first byte"])
def test_bytes_lost_inside_a_chunk_are_found_before_any_record_of_that_chunk_is_used(small_trace,
                                                                                    cut):
    """Bytes gone from the middle of a chunk: its records no longer fill its stated bytes (the
    next chunk's header is read as a record, or a record crosses the end), and the reader says
    bytes were lost without handing out any record of that chunk, even those before the gap."""
    def inside(chunk):
        return [o for o in record_offsets(small_trace) if chunk[0] < o < chunk[0] + chunk[1]]
    start, size = next(c for c in chunks(small_trace)[1:] if len(inside(c)) >= 3)
    offsets = inside((start, size))
    victim, after = offsets[len(offsets) // 2], offsets[len(offsets) // 2 + 1]
    gap = {"one whole record": (victim, after), "a record's last byte": (after - 1, after),
           "its first byte": (victim, victim + 1)}[cut]
    data = small_trace[:gap[0]] + small_trace[gap[1]:]
    seen, error = records_before_the_error(data)
    assert error is not None, cut
    assert "is not filled by whole records: bytes were lost in transport" in str(error), \
        (cut, str(error))
    assert seen and max(seen) < start, cut  # nothing of the damaged chunk was used


def test_every_problem_of_an_inconsistent_trace_is_listed(tmp_path, small_trace):
    """Totals off in several ways: each disagreement is its own line, then a count."""
    offs = record_offsets(small_trace)
    data = patch(patch(small_trace, offs[-1] + END_RECORDS_AT, "<Q", 12345),
                 offs[-1] + END_BYTES_AT, "<Q", 999)
    result = run_info(tmp_path, data)
    lines = result.stderr.splitlines()
    assert result.returncode == 3
    assert "kernel wrote 12345 records" in lines[0] and "offset" in lines[0]
    assert "kernel wrote 999 record bytes" in lines[1]
    assert lines[-1].endswith(f"inconsistent trace ({len(lines) - 1} problems)"), lines


def test_missing_file_exits_4(tmp_path):
    for command in ("info", "check"):
        result = run_info_path(tmp_path / "nothing-here.trace", command)
        assert result.returncode == 4
        assert "cannot read trace" in result.stderr


def test_atomic_file_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous\n")
    with pytest.raises(TraceError):
        with atomic_file(target) as f:
            f.write("half a result")
            raise TraceError("bad record", 99)
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    with atomic_file(target) as f:
        f.write("complete\n")
    assert target.read_text() == "complete\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_atomic_directory_replaces_only_when_complete(tmp_path):
    target = tmp_path / "report"
    with atomic_directory(target) as d:
        (d / "index.html").write_text("one")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as d:
            (d / "index.html").write_text("two, unfinished")
            raise RuntimeError("plot failed")
    assert (target / "index.html").read_text() == "one"
    with atomic_directory(target) as d:
        (d / "index.html").write_text("three")
    assert (target / "index.html").read_text() == "three"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_random_damage_gives_a_trace_error_and_nothing_else(small_trace):
    """2000 seeded random corruptions (byte flips, cuts, splices): the reader and the summary
    either accept the result or raise TraceError; no other exception escapes (in-process, so a
    crash would show its type)."""
    import random

    from analyzer.reading.reader import TraceError
    from analyzer.checking.replay import check_replay
    from analyzer.reading.summary import summarize

    rng = random.Random(0x5eed)
    outcomes = {"accepted": 0, "rejected": 0}
    for _ in range(2000):
        data = bytearray(small_trace)
        kind = rng.randrange(3)
        if kind == 0:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:
            data = data[:rng.randrange(len(data))]
        else:
            a, b = sorted(rng.randrange(len(data)) for _ in range(2))
            data = data[:a] + data[b:]
        try:
            summarize(TraceReader(bytes(data)))
            check_replay(TraceReader(bytes(data)).events())
            outcomes["accepted"] += 1
        except TraceError:
            outcomes["rejected"] += 1
    assert outcomes["rejected"] > 1000  # most damage must be noticed


BAD_INPUTS = {
    "empty": lambda d, offs: b"",
    "wrong magic": lambda d, offs: b"PSTRACX\0" + d[8:],
    "wrong version": lambda d, offs: patch(d, 8, "<H",
                                           FORMAT.constants["TRACE_FORMAT_VERSION"] + 1),
    "truncated": lambda d, offs: d[:offs[10] + 7],
    # the first chunk's number (its header ends where record 0 starts)
    "bit-flipped": lambda d, offs: patch(d, offs[0] - 4, "<I", 1 << 9),
    "absurd length": lambda d, offs: patch(d, offs[4] + 2, "<H", 65535),
    "unknown event": lambda d, offs: patch(d, offs[4], "<B", 250),
}


def command_lines(out_dir, trace):
    """argv for every subcommand of the analyzer that reads pagescope traces (not, say, the strace
    log converter), reading `trace` wherever it takes one and writing under out_dir wherever it
    writes; with the outputs it would write."""
    from analyzer.__main__ import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        inputs = [a for a in parser._actions if not a.option_strings]
        if any(a.metavar and "TRACE" not in a.metavar.upper() for a in inputs):
            continue
        argv, outputs = [name], []
        for action in parser._actions:
            if "-o" in action.option_strings or "--output" in action.option_strings:
                outputs.append(out_dir / f"{name}.out")
                argv += [action.option_strings[0], str(outputs[-1])]
            elif not action.option_strings:
                argv += [str(trace)] * (action.nargs if isinstance(action.nargs, int) else 1)
        yield name, argv, outputs


@pytest.mark.parametrize("damage", sorted(BAD_INPUTS))
def test_every_subcommand_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, small_trace,
                                                                          damage):
    import contextlib
    import io

    from analyzer.__main__ import main
    trace = tmp_path / "bad.pstrace"
    trace.write_bytes(BAD_INPUTS[damage](small_trace, record_offsets(small_trace)))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    commands = list(command_lines(out_dir, trace))
    assert {"info", "check"} <= {name for name, _, _ in commands}
    for name, argv, outputs in commands:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
        assert status == 3, (damage, name, err.getvalue())
        assert re.fullmatch(rf"error: {re.escape(str(trace))}: offset \d+: [^\n]+\n",
                            err.getvalue()), (damage, name, err.getvalue())
        assert list(out_dir.iterdir()) == [], (damage, name)  # no partial output, no temporary


def test_more_problems_than_listed_are_counted_never_dropped(build_encoder, tmp_path):
    """150 kfrees of objects never allocated: 100 listed, then "and 50 more", then the count."""
    calls = tmp_path / "calls.inc"
    calls.write_text("".join(f"trace_emit_kfree(t, 0x1000ULL * {i + 1}, 64, 0);\n"
                             for i in range(150)))
    config = ("#define FAKE_CLOCK_START 0\n#define FAKE_CLOCK_STEP 10\n"
              "#define HEADER_INFO { .clock = 1, .clock_hz = 1000000000ULL, .cmdline = \"test\","
              " .build_id = \"many\" }\n"
              f"#define EVENT_CALLS \"{calls}\"\n")
    binary = build_encoder(config, "many-problems")
    trace = tmp_path / "many.trace"
    subprocess.run([str(binary), str(trace)], check=True)
    result = run_info_path(trace, "check")
    lines = result.stderr.splitlines()
    assert result.returncode == 3
    assert len(lines) == 102, lines[-3:]
    assert all("was never handed out" in line for line in lines[:100])
    assert lines[100].endswith("... and 50 more problems not listed")
    assert lines[101].endswith("replay does not match (150 problems)")
