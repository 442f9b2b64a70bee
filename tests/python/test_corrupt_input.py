"""`analyzer info` rejects every kind of damaged trace with one clear error line and exit status
3 (4 when the file cannot be read), never a Python traceback; a sound trace passes with 0."""

import struct
import subprocess
import sys

import pytest

from analyzer.events import FORMAT
from analyzer.reader import TraceReader

from conftest import REPO

RECORD_HEADER = FORMAT.record_header.codec


def run_info(tmp_path, data):
    path = tmp_path / "input.trace"
    path.write_bytes(data)
    return run_info_path(path)


def run_info_path(path):
    result = subprocess.run([sys.executable, "-m", "analyzer", "info", str(path)], cwd=REPO,
                            capture_output=True, text=True)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def record_offsets(data):
    return [r.offset for r in TraceReader(data).records()]


def patch(data, offset, fmt, value):
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_sound_trace_passes_and_reports_counts(tmp_path, small_trace):
    result = run_info(tmp_path, small_trace)
    assert result.returncode == 0, result.stderr
    assert "pmm_alloc            20" in result.stdout
    assert "pmm_snapshot         2" in result.stdout  # 300 items: two 4 KiB parts
    assert "trace_end matches" in result.stdout


@pytest.mark.parametrize("name, damage, message", [
    ("empty file", lambda d, offs: b"", "too short"),
    ("bad magic", lambda d, offs: b"XSTRACE\0" + d[8:], "bad magic"),
    ("newer version", lambda d, offs: patch(d, 8, "<H", 99), "format version 99"),
    ("cut inside the header", lambda d, offs: d[:50], "inside the trace header"),
    ("cut inside a record header", lambda d, offs: d[:offs[3] + 5], "truncated record header"),
    ("cut inside a payload", lambda d, offs: d[:offs[3] + 20], "truncated pmm_alloc record"),
    ("length too small", lambda d, offs: patch(d, offs[2] + 2, "<H", 4), "bad record length"),
    ("length too big", lambda d, offs: patch(d, offs[2] + 2, "<H", 60000), "bad record length"),
    ("length off by one", lambda d, offs: patch(d, offs[2] + 2, "<H", 32),
     "payload is 16 bytes, expected 15"),
    ("record missing", lambda d, offs: d[:offs[4]] + d[offs[5]:], "sequence gap"),
    ("unknown type", lambda d, offs: patch(d, offs[6], "<B", 200), "unknown event type 200"),
    ("no trace_end", lambda d, offs: d[:offs[-1]], "no trace_end record"),
    ("bytes after trace_end", lambda d, offs: d + d[offs[0]:offs[1]], "record after trace_end"),
    ("totals disagree", lambda d, offs: patch(d, offs[-1] + 16, "<Q", 12345),
     "kernel wrote 12345 records"),
])
def test_damaged_trace_is_rejected_with_a_clear_message(tmp_path, small_trace, name, damage,
                                                        message):
    result = run_info(tmp_path, damage(small_trace, record_offsets(small_trace)))
    assert result.returncode == 3, (name, result.stdout, result.stderr)
    assert message in result.stderr, (name, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_file_exits_4(tmp_path):
    result = run_info_path(tmp_path / "nothing-here.trace")
    assert result.returncode == 4
    assert "cannot read trace" in result.stderr


def test_random_damage_gives_a_trace_error_and_nothing_else(small_trace):
    """2000 seeded random corruptions (byte flips, cuts, splices): the reader and the summary
    either accept the result or raise TraceError; no other exception escapes (in-process, so a
    crash would show its type)."""
    import random

    from analyzer.reader import TraceError
    from analyzer.replay import check_replay
    from analyzer.summary import summarize

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
