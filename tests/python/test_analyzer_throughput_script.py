"""benchmarks/analyzer_throughput.py, the command the README's speed figures name, still runs on
a small trace: the trace it generates is one `analyzer check` accepts, and it prints every step
it times. (It broke silently once: format 8 added fields it did not write.) Its times are not
asserted: speed is not judged by a timed test."""

import subprocess
import sys

from conftest import REPO

STEPS = ("decode (bulk read + every check)", "replay", "perfetto", "frag csv", "plots")


def test_the_throughput_script_runs_and_its_trace_passes_check(tmp_path):
    kept = tmp_path / "synthetic.pstrace"
    run = subprocess.run([sys.executable, "benchmarks/analyzer_throughput.py", "--events",
                          "20000", "--keep", str(kept)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for step in STEPS:
        assert f"  {step}" in run.stdout, step
    assert "decode + replay:" in run.stdout
    check = subprocess.run([sys.executable, "-m", "analyzer", "check", str(kept)], cwd=REPO,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "every snapshot equals the replay" in check.stdout
