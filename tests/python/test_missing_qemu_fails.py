"""A boot test without QEMU fails; it is never skipped (skipping would let `make test` pass
having booted nothing)."""

import os
import re
import subprocess
import sys

from conftest import REPO


def test_the_qemu_test_modules_fail_without_qemu(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # an empty PATH: no qemu-system-x86_64, no make
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-rs", "tests/python/test_qemu_trace.py",
                             "tests/python/test_qemu_scenarios.py"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode != 0, summary
    assert "skipped" not in summary, summary
    not_passed = sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)\b", summary))
    assert not_passed > 5 and "passed" not in summary, summary
