"""500 seeded mutations of a real kernel trace through every subcommand that reads whole traces
(decode, perfetto, frag, compare, report): each ends in a clean refusal (exit 3, one line
`error: FILE: offset N: reason`, no traceback, no output file left behind) or a correct result
(exit 0 and a complete output). Runs in-process, so any uncaught exception fails the test."""

import collections
import contextlib
import io
import random
import re
import struct
import subprocess

import pytest

from analyzer.__main__ import main, read_trace
from analyzer.definitions.events import FORMAT
from analyzer.reading.bulk import BulkTrace
from analyzer.export.perfetto import semantic_problems
from analyzer.reading.reader import TraceError, TraceReader
from analyzer.reading.summary import summarize

from conftest import REPO

MUTATIONS = 500
HEADER = FORMAT.record_header.size
SEED = 20261129
REPORT_EVERY_ACCEPTED = 25  # a report (7 plots) per 25th accepted mutation; every refusal runs it


@pytest.fixture(scope="module")
def real_trace(tmp_path_factory):
    """A small real trace: the boot plus one in-kernel test, under icount."""
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    out = tmp_path_factory.mktemp("mutations") / "brk.pstrace"
    subprocess.run([str(REPO / "scripts" / "qemu-run.sh"), "--elf", str(REPO / "build" /
                    "pagescope.elf"), "--args", "trace=on vmm=list test=vmm_brk", "--trace-out",
                    str(out), "--icount", "--timeout", "120"], cwd=REPO, check=True,
                   capture_output=True)
    return out


def mutate(data, offsets, rng):
    """(name, mutated bytes): one of the ways a trace goes bad in practice or in a fuzzer."""
    data = bytearray(data)
    record = rng.choice(offsets)
    kind = rng.randrange(10)
    if kind == 0:
        return "truncated", bytes(data[:rng.randrange(len(data))])
    if kind == 1:
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return "bit flips", bytes(data)
    if kind == 2:
        data[rng.randrange(len(data))] = rng.randrange(256)
        return "random byte", bytes(data)
    if kind == 3:
        return "empty", b""
    if kind == 4:
        data[rng.randrange(8)] ^= 0xFF
        return "wrong magic", bytes(data)
    if kind == 5:
        struct.pack_into("<H", data, 8, rng.choice([0, 2, 7, 0xFFFF]))
        return "wrong version", bytes(data)
    if kind == 6:
        struct.pack_into("<H", data, record + 2, rng.choice([0, 1, HEADER - 1, HEADER + 1, 4097, 0xFFFF,
                                                             rng.randrange(0x10000)]))
        return "absurd length", bytes(data)
    if kind == 7:
        data[record] = rng.choice([0, 29, 99, 200, 255])
        return "unknown event", bytes(data)
    length = struct.unpack_from("<H", data, record + 2)[0]
    if kind == 8:
        return "record removed", bytes(data[:record] + data[record + length:])
    # a field inside a record's payload changed (framing intact)
    if length > HEADER:
        data[record + HEADER + rng.randrange(length - HEADER)] = rng.randrange(256)
    return "payload byte", bytes(data)


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def assert_clean_refusal(status, err, path, what):
    assert status == 3, (what, status, err)
    assert re.fullmatch(rf"error: {re.escape(str(path))}: offset \d+: \S[^\n]*\n", err), (what, err)
    assert "strict reader does not" not in err, (what, err)  # the two readers must agree


def strict_events(data):
    """The strict reader's events, or None when it or `info`'s totals refuse the trace (what the
    bulk reader must agree with: it makes the same checks, vectorized)."""
    try:
        if summarize(TraceReader(data)).problems:
            return None
        return list(TraceReader(data).events())
    except TraceError:
        return None


def assert_readers_agree(loaded, events, what):
    """Both readers accepted the trace: they must have read the same events, field by field."""
    assert events is not None, (what, "the bulk reader accepts what the strict reader refuses")
    by_type = collections.defaultdict(list)
    for e in events:
        by_type[type(e).__name__].append(e)
    fixed = 0
    for name, array in loaded.fixed.items():
        strict = by_type[name]
        assert len(strict) == len(array), (what, name)
        for field in array.dtype.names:
            if field != "position":
                assert array[field].tolist() == [getattr(e, field) for e in strict], (what, name,
                                                                                      field)
        fixed += len(array)
    others = [e for e in events if type(e).__name__ not in loaded.fixed]
    assert fixed + len(others) == len(events) == loaded.events_total(), what
    for bulk, strict in zip(loaded.others, others):
        assert (bulk.name, bulk.seq, bulk.timestamp) == (type(strict).__name__, strict.seq,
                                                         strict.timestamp), what
        assert {k: int(v) for k, v in bulk.fields.items()} == {
            k: getattr(strict, k) for k in bulk.fields}, what
        if bulk.text is not None:
            assert bulk.text == strict.text, what
        else:
            assert [tuple(i) for i in bulk.items.tolist()] == [tuple(i) for i in strict.items], what


def test_mutated_traces_end_in_clean_errors_or_correct_results(real_trace, tmp_path):
    original = real_trace.read_bytes()
    offsets = BulkTrace.open(real_trace).offsets.tolist()
    rng = random.Random(SEED)
    outcomes = collections.Counter()
    kinds = set()
    accepted_reports = 0
    for n in range(MUTATIONS):
        kind, data = mutate(original, offsets, rng)
        kinds.add(kind)
        work = tmp_path / f"m{n}"
        work.mkdir()
        path = work / "t.pstrace"
        path.write_bytes(data)
        what = f"mutation {n} ({kind}, seed {SEED})"
        loaded = None
        try:
            loaded = BulkTrace.open(path)
        except Exception:  # noqa: BLE001  (the subcommands below must refuse it cleanly)
            pass
        events = strict_events(data)
        if loaded is not None:
            assert_readers_agree(loaded, events, what)
        else:
            assert events is None, (what, "the strict reader accepts what the bulk reader refuses")
        outcomes["readers agreed on an accepted trace"] += loaded is not None

        # decode prints every trace whose framing holds, one `check` refuses included (it is
        # how one reads why), and refuses exactly what the readers refuse
        status, out, err = run(["decode", str(path)])
        if status == 0:
            assert loaded is not None, what
            assert len(out.splitlines()) == loaded.events_total(), what
        else:
            assert loaded is None, (what, "decode refuses a trace whose framing holds", err)
            assert_clean_refusal(status, err, path, what)
        decoded = status == 0

        status, out, err = run(["compare", str(real_trace), str(path)])
        # 5: a valid trace whose requests meet a different outcome is a finding, not an error
        if status not in (0, 5):
            assert_clean_refusal(status, err, path, what)

        for command, name in (("perfetto", "out.pftrace"), ("frag", "out.csv")):
            status, out, err = run([command, str(path), "-o", str(work / name)])
            if status == 0:
                assert (work / name).stat().st_size > 0, what
                if command == "perfetto":
                    assert semantic_problems((work / name).read_bytes()) == [], what
            else:
                assert_clean_refusal(status, err, path, what)
                assert not (work / name).exists(), what
        replay_ok = status == 0
        outcomes["accepted" if replay_ok else "refused"] += 1
        # one replay: what perfetto and frag accept is exactly what `check` finds no problem in
        try:
            check_ok = not read_trace(path, replay=True)[2]
        except TraceError:
            check_ok = False
        assert replay_ok == check_ok, (what, "frag and check disagree on the trace")
        outcomes["decoded though check refuses"] += decoded and not check_ok

        if not replay_ok or accepted_reports * REPORT_EVERY_ACCEPTED <= outcomes["accepted"]:
            accepted_reports += replay_ok
            status, out, err = run(["report", str(path), "-o", str(work / "report")])
            if status == 0:
                assert (work / "report" / "index.html").exists(), what
            else:
                assert_clean_refusal(status, err, path, what)
                assert not (work / "report").exists(), what
        assert sorted(p.name for p in work.iterdir() if p.name.startswith(".")) == [], what
    # both outcomes are common, so the checks above were exercised both ways (since every command
    # runs check's replay, a mutated address or size is refused by its pairing checks: about 1
    # mutation in 20 is still accepted)
    assert outcomes["accepted"] > 20 and outcomes["refused"] > 200, outcomes
    assert outcomes["decoded though check refuses"] > 40, outcomes
    assert outcomes["readers agreed on an accepted trace"] > 50, outcomes
    assert len(kinds) == 10
