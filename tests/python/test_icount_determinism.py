"""Two boots of one kernel under QEMU -icount give the same trace: every byte is equal except the
clock readings (the header's start_timestamp and each record's timestamp), and those all differ by
one constant, the instructions the firmware and GRUB ran before the kernel started. That part
varies because their disk reads complete when the host's I/O does, and QEMU's TCG ignores a
guest's write of the timestamp counter, so the kernel cannot restart it at 0 for free."""

import shutil
import struct
import subprocess

import numpy as np
import pytest

from analyzer.bulk import BulkTrace
from analyzer.events import FIELD_TYPES, FORMAT
from conftest import REPO

# 200,000 records through the virtio console: long enough for the device's completion timing to
# show if it leaked into the guest's instruction count.
ARGS = "trace=on scenario=kheap"


def boot(work, name):
    trace = work / f"{name}.pstrace"
    status = subprocess.run([str(REPO / "scripts" / "qemu-run.sh"), "--elf",
                             str(REPO / "build" / "pagescope.elf"), "--args", ARGS, "--icount",
                             "--trace-out", str(trace), "--serial-log", str(work / f"{name}.log"),
                             "--timeout", "300"], cwd=REPO).returncode
    assert status == 0, (work / f"{name}.log").read_text(errors="replace")
    return trace


def field_offset(layout, name):
    """Byte offset of a field in a packed layout of events.def."""
    return struct.calcsize("<" + "".join(FIELD_TYPES[t] for t in layout.types[:layout.names.index(name)]))


def clock_fields(path):
    """(offsets of every 8-byte clock reading in the file, their values): the header's
    start_timestamp, then each record's timestamp."""
    trace = BulkTrace.open(path)
    start_offset = field_offset(FORMAT.stream_header, "start_timestamp")
    stamp_offset = field_offset(FORMAT.record_header, "timestamp")
    offsets = np.concatenate([[start_offset], trace.offsets.astype(np.int64) + stamp_offset])
    values = np.concatenate([[trace.header.start_timestamp],
                             trace.headers["timestamp"].astype(np.int64)])
    return offsets, values


def test_two_icount_boots_differ_only_by_the_loaders_time(tmp_path):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required to boot the kernel")
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    first, second = boot(tmp_path, "first"), boot(tmp_path, "second")
    a, b = bytearray(first.read_bytes()), bytearray(second.read_bytes())
    assert len(a) == len(b)
    offsets_a, clocks_a = clock_fields(first)
    offsets_b, clocks_b = clock_fields(second)
    assert np.array_equal(offsets_a, offsets_b)
    assert len(offsets_a) > 100_000
    shift = clocks_b - clocks_a
    assert np.all(shift == shift[0]), (
        f"{np.count_nonzero(shift != shift[0])} clock readings moved by other than {shift[0]}")
    for offset in offsets_a.tolist():
        a[offset:offset + 8] = b[offset:offset + 8] = bytes(8)
    assert a == b  # every other byte: payloads, sequence numbers, lengths, totals
