"""`check` validates every replay_op record: its op against trace/workload.def, its status
against events.def's replay_op_status, its range, and its process and context against the
contexts the trace creates; a change to any of them in a real replay's trace is refused."""

import contextlib
import io
import struct

import pytest

from analyzer.__main__ import main
from analyzer.definitions.events import FIELD_TYPES, FORMAT
from analyzer.definitions import workload_format as wf
from analyzer.reading.reader import TraceReader

REPLAY_OP = FORMAT.events_by_name["replay_op"]
HEADER = FORMAT.record_header.size


def field_at(name):
    """(offset in the record, struct format) of a replay_op field."""
    names, types = REPLAY_OP.fields.names, REPLAY_OP.fields.types
    i = names.index(name)
    return HEADER + struct.calcsize("<" + "".join(FIELD_TYPES[t] for t in types[:i])), \
        "<" + FIELD_TYPES[types[i]]


def check(tmp_path, data):
    path = tmp_path / "t.pstrace"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["check", str(path)])
    return status, out.getvalue(), err.getvalue()


def replay_ops(data):
    return [r for r in TraceReader(data).records() if r.type == REPLAY_OP.id]


def set_field(data, record, name, value):
    offset, fmt = field_at(name)
    out = bytearray(data)
    struct.pack_into(fmt, out, record.offset + offset, value)
    return bytes(out)


@pytest.fixture
def gcc(replay_trace):
    return replay_trace("gcc-compile")


def test_the_unchanged_replay_passes_and_says_what_was_checked(gcc, tmp_path):
    status, out, err = check(tmp_path, gcc)
    assert status == 0, err
    assert f"workload    {len(replay_ops(gcc))} replayed workload ops held" in out


@pytest.mark.parametrize("name, value, reason", [
    ("op", 0, "op 0 is not a workload op"),
    ("op", 200, "op 200 is not a workload op"),
    ("status", 77, "replay_op status is 77"),
    ("context", 999, "999"),
    ("pid", 999999, "process 999999"),
])
def test_a_wrong_value_in_a_replay_op_is_refused(gcc, tmp_path, name, value, reason):
    ops = replay_ops(gcc)
    for record in (ops[1], ops[len(ops) // 2], ops[-2]):
        status, _, err = check(tmp_path, set_field(gcc, record, name, value))
        assert status == 3 and f"offset {record.offset}" in err and reason in err, (record, err)


def test_a_zeroed_replay_op_payload_is_refused(gcc, tmp_path):
    ops = replay_ops(gcc)
    picked = [ops[i * (len(ops) - 1) // 7] for i in range(8)]
    for record in picked:
        data = bytearray(gcc)
        data[record.offset + HEADER:record.offset + HEADER + REPLAY_OP.fields.size] = \
            bytes(REPLAY_OP.fields.size)
        status, _, err = check(tmp_path, bytes(data))
        assert status == 3 and f"offset {record.offset}" in err, (record.event, err)


def test_a_map_moved_out_of_the_user_half_is_refused(gcc, tmp_path):
    maps = [r for r in replay_ops(gcc) if r.event.op == 6]  # workload.def: map
    record = maps[len(maps) // 2]
    status, _, err = check(tmp_path, set_field(gcc, record, "addr", 0x800000000000))
    assert status == 3 and "not page-aligned or beyond" in err, err
    status, _, err = check(tmp_path, set_field(gcc, record, "addr", record.event.addr + 1))
    assert status == 3 and "not page-aligned or beyond" in err, err


def refusing_workload(path):
    """A workload that a 24 MiB guest must partly refuse: a 64 MiB map (no memory), 59 forks of
    which only some get a context (no context for the rest, whose every op is refused), then
    their maps, execs, brks and exits."""
    op = wf.op
    ops = [op("start", 0, os_pid=100), op("brk", 0, heap_bytes=8192),
           op("map", 0, addr=0x7f0000000000, length=64 << 20, prot=3, map_flags=4),
           op("map", 0, addr=0x7f1000000000, length=16384, prot=3, map_flags=4)]
    children = range(1, 60)
    ops += [op("fork", 0, child=c, os_pid=100 + c) for c in children]
    for c in children:
        ops += [op("map", c, addr=0x7e0000000000, length=8192, prot=3, map_flags=4),
                op("exec", c), op("brk", c, heap_bytes=4096)]
    ops += [op("exit", c) for c in children]
    ops += [op("unmap", 0, addr=0x7f1000000000, length=16384), op("exit", 0)]
    data = wf.encode(wf.Workload("refusals", 60, ops))
    wf.decode(data)  # the kernel must accept the file itself
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("backend", ["pagetable", "list"])
def test_a_replay_whose_ops_are_refused_is_consistent(replay_trace, tmp_path, backend):
    """Refusals (out of memory, no context, no space) are outcomes, not inconsistencies."""
    data = replay_trace(refusing_workload(tmp_path / "refusals.psw"), f"vmm={backend}", "24M")
    statuses = {r.event.status for r in replay_ops(data)}
    named = FORMAT.value_numbers
    assert {named["REPLAY_DONE"], named["REPLAY_NO_MEMORY"],
            named["REPLAY_NO_CONTEXT"]} <= statuses, statuses
    status, out, err = check(tmp_path, data)
    assert status == 0, err
