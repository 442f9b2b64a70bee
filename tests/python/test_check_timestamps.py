"""The first record's timestamp is stated twice: in the record and in the header's first_timestamp
(min(the first record's time, the header's start_timestamp), trace_first_timestamp in the kernel). So
moving the first record's time, to 0 or anywhere else, is refused by every subcommand alike, as is
an edited first_timestamp; a valid trace, whose first record was written before the header (a
kernel boot) or after it (the host encoder), is accepted. Later records are bound by order only
(test_mutations.py lists what that leaves undetectable)."""

import struct

import pytest

from analyzer.definitions.events import FORMAT
from analyzer.reading.reader import TraceReader

from conftest import analyzer_on_bytes

BOOT = "trace=on test=vmm_brk"
STAMP_AT = 4  # a record's timestamp: after type u8, flags u8, length u16
FIRST_AT = struct.calcsize("<" + "".join(
    {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}[t]
    for t in FORMAT.stream_header.types[:FORMAT.stream_header.names.index("first_timestamp")]))


def run(tmp_path, command, data):
    return analyzer_on_bytes(tmp_path, command, data)


def first_records(data):
    reader = TraceReader(data)
    records = reader.records()
    return reader, next(records), next(records)


def test_a_kernel_trace_states_its_first_records_time_in_the_header(kernel_trace, tmp_path):
    data = kernel_trace(BOOT)
    reader, first, _ = first_records(data)
    # The kernel records from its first instruction, long before the device is up.
    assert first.timestamp < reader.header.start_timestamp
    assert reader.header.first_timestamp == first.timestamp
    assert run(tmp_path, "check", data)[0] == 0


def test_a_trace_whose_header_came_first_is_accepted(small_trace, tmp_path):
    reader, first, _ = first_records(small_trace)
    assert reader.header.first_timestamp == reader.header.start_timestamp <= first.timestamp
    assert run(tmp_path, "check", small_trace)[0] == 0


@pytest.mark.parametrize("command", ["info", "check", "perfetto"])
@pytest.mark.parametrize("where", ["zero", "one earlier", "one later"])
def test_the_first_records_timestamp_moved_is_refused(kernel_trace, tmp_path, command, where):
    data = kernel_trace(BOOT)
    reader, first, second = first_records(data)
    stamp = {"zero": 0, "one earlier": first.timestamp - 1, "one later": first.timestamp + 1}[where]
    assert stamp <= second.timestamp  # still in order: only the header can give it away
    at = first.offset + STAMP_AT
    mutated = data[:at] + struct.pack("<Q", stamp) + data[at + 8:]
    status, _, err = run(tmp_path, command, mutated)
    assert status == 3, err
    assert f"offset {first.offset}: " in err and "first_timestamp" in err, err


@pytest.mark.parametrize("change", [-1, 1])
def test_an_edited_first_timestamp_is_refused(kernel_trace, tmp_path, change):
    data = kernel_trace(BOOT)
    reader, first, _ = first_records(data)
    mutated = data[:FIRST_AT] + struct.pack("<Q", first.timestamp + change) + data[FIRST_AT + 8:]
    status, _, err = run(tmp_path, "check", mutated)
    assert status == 3 and "first_timestamp" in err, err


def test_a_first_timestamp_after_the_headers_own_time_is_refused(small_trace, tmp_path):
    reader, _, _ = first_records(small_trace)
    late = reader.header.start_timestamp + 1
    mutated = small_trace[:FIRST_AT] + struct.pack("<Q", late) + small_trace[FIRST_AT + 8:]
    status, _, err = run(tmp_path, "info", mutated)
    assert status == 3 and f"offset {FIRST_AT}: header first_timestamp" in err, err
