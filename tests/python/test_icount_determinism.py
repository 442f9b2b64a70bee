"""Two boots of one kernel under QEMU -icount give the same trace, byte for byte. The firmware and
GRUB take a number of instructions that varies with the host's I/O, so the timestamp counter at
the kernel's entry differs from boot to boot; every clock the kernel reports counts from that
entry (kernel_clock_now), so none of that time reaches the trace. The boot logs say where each
kernel's clock started, which is how this test shows the loaders' time did vary."""

import re
import shutil
import subprocess

import pytest

from analyzer.reading.bulk import BulkTrace
from conftest import REPO

# 200,000 records through the virtio console: long enough for the device's completion timing to
# show if it leaked into the guest's instruction count.
ARGS = "trace=on scenario=kheap"
ORIGIN = re.compile(r"counting from the kernel's entry \(timestamp counter (\d+) there\)")


def boot(work, name):
    trace, log = work / f"{name}.pstrace", work / f"{name}.log"
    status = subprocess.run([str(REPO / "scripts" / "qemu-run.sh"), "--elf",
                             str(REPO / "build" / "pagescope.elf"), "--args", ARGS, "--icount",
                             "--trace-out", str(trace), "--serial-log", str(log),
                             "--timeout", "300"], cwd=REPO).returncode
    assert status == 0, log.read_text(errors="replace")
    origin = ORIGIN.search(log.read_text(errors="replace"))
    assert origin, "the boot log names no clock origin"
    return trace, int(origin.group(1))


def test_two_icount_boots_write_identical_traces(tmp_path):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required to boot the kernel")
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    (first, first_origin), (second, second_origin) = boot(tmp_path, "first"), boot(tmp_path,
                                                                                     "second")
    assert len(BulkTrace.open(first).headers) > 100_000
    a, b = first.read_bytes(), second.read_bytes()
    differing = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    same = len(a) == len(b) and differing is None
    assert same, (f"{len(a)} and {len(b)} bytes, first difference at offset {differing}; the "
                  f"kernels started at timestamp counter {first_origin} and {second_origin}")
    print(f"\nidentical {len(a)}-byte traces; the kernels started at timestamp counter "
          f"{first_origin} and {second_origin}")
