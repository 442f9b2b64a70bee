"""QEMU stopped by a signal from outside the run (SIGTERM, which QEMU catches, or SIGKILL, which
it cannot) is reported by scripts/qemu-run.sh as status 126 "QEMU was stopped from outside the
run" naming the signal, never as a setup failure or as a kernel result."""

import shutil
import signal
import subprocess
import time

import pytest

from conftest import REPO


def qemu_child(parent):
    """The pid of the qemu-system process under the script `parent`, once it runs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-P", str(parent), "-f", "qemu-system-x86_64"],
                               capture_output=True, text=True).stdout.split()
        if found:
            return int(found[0])
        time.sleep(0.2)
    pytest.fail("QEMU did not start")


@pytest.mark.parametrize("sig, name", [(signal.SIGKILL, "SIGKILL"), (signal.SIGTERM, None)])
def test_qemu_killed_from_outside_is_reported_as_stopped(tmp_path, sig, name):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required")
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    run = subprocess.Popen([str(REPO / "scripts" / "qemu-run.sh"), "--elf",
                            str(REPO / "build" / "pagescope.elf"), "--args", "fault=hang",
                            "--timeout", "0", "--serial-log", str(tmp_path / "serial.log")],
                           cwd=REPO, stderr=subprocess.PIPE, text=True)
    qemu = qemu_child(run.pid)
    time.sleep(1)
    subprocess.run(["kill", f"-{sig.name[3:]}", str(qemu)], check=True)
    _, err = run.communicate(timeout=60)
    last = err.strip().splitlines()[-1]
    assert run.returncode == 126, err
    assert last.startswith("pagescope: exit status 126 (QEMU was stopped from outside the run"), last
    if name:
        assert name in last, last
