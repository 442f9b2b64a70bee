"""Zero tests run is not a pass: the Python runner fails when pytest collects nothing, and the
QEMU boot tests fail when their name filter selects no test."""

import shutil
import subprocess

from conftest import REPO


def test_the_python_runner_fails_when_no_test_is_collected(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "tests" / "python").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "run-pytest.sh", tmp_path / "scripts")
    result = subprocess.run(["bash", str(tmp_path / "scripts" / "run-pytest.sh")],
                            capture_output=True, text=True)
    assert result.returncode != 0, result.stdout
    assert "0 passed, 0 failed" in result.stdout


def test_the_python_runner_runs_only_the_files_it_is_given(tmp_path):
    (tmp_path / "scripts").mkdir()
    suite = tmp_path / "tests" / "python"
    suite.mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "run-pytest.sh", tmp_path / "scripts")
    (suite / "test_chosen.py").write_text("def test_chosen():\n    pass\n")
    (suite / "test_other.py").write_text("def test_other():\n    assert False\n")
    result = subprocess.run(["bash", str(tmp_path / "scripts" / "run-pytest.sh"), "/usr/bin/python3",
                             "tests/python/test_chosen.py"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert "1 passed" in result.stdout and "failed" not in result.stdout
    whole = subprocess.run(["bash", str(tmp_path / "scripts" / "run-pytest.sh"), "/usr/bin/python3"],
                           capture_output=True, text=True)
    assert whole.returncode != 0 and "1 failed, 1 passed" in whole.stdout, whole.stdout


def test_the_boot_tests_fail_when_their_filter_selects_nothing():
    result = subprocess.run(["bash", str(REPO / "tests" / "qemu" / "boot-tests.sh"),
                             str(REPO / "build" / "pagescope.elf"), "no-such-boot-test"],
                            capture_output=True, text=True)
    assert result.returncode != 0, result.stdout
    assert result.stdout.strip().splitlines()[-1] == "boot: 0 passed, 0 failed"
    assert "zero tests run is not a pass" in result.stderr
