"""A guest larger than the host's whole memory boots: QEMU's RAM backend is made with
reserve=off (scripts/qemu-run.sh), so the host commits only the pages the guest touches."""

import shutil
import subprocess

import pytest

from conftest import REPO


def host_memory_gib():
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // (1 << 20)
    pytest.fail("no MemTotal in /proc/meminfo")


def test_a_guest_larger_than_the_host_boots_and_sees_its_memory(tmp_path):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required")
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    gib = host_memory_gib() + 8
    log = tmp_path / "serial.log"
    result = subprocess.run([str(REPO / "scripts" / "qemu-run.sh"), "--elf",
                             str(REPO / "build" / "pagescope.elf"), "--mem", f"{gib}G",
                             "--args", "test=memory_pmm_reserves", "--serial-log", str(log)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + log.read_text(errors="replace")
    available = next(line for line in log.read_text().splitlines()
                     if line.startswith("memory map: ") and line.endswith("MiB available"))
    assert int(available.split()[2]) >= (gib - 1) * 1024, available
