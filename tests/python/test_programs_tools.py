"""The real-program tooling (programs/) on small stand-ins, no Debian package needed: the run
definitions, the generated inputs, recording host outputs, the checksum comparison, the strace
summary reader, and the build script's refusal to fetch when told it is offline."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from programs import expected, inputs, syscalls
from programs.runs import Layout, Run, RunsError, load_runs

from conftest import REPO

BUILD_SCRIPT = REPO / "scripts" / "build-programs.sh"


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_run_uses_a_program_the_build_script_makes():
    built = {line.split()[1] for line in BUILD_SCRIPT.read_text().splitlines()
             if line.startswith("ensure_program ")}
    runs = load_runs()
    assert built == {"lua", "sqlite3", "xz", "busybox"}
    assert {run.program for run in runs} <= built
    assert len(runs) >= 4


@pytest.mark.parametrize("line, complaint", [
    ("just-a-name", "expected 'NAME | INPUT FILES | ARGV'"),
    ("bad | x | lua 'unclosed", "bad quoting"),
    (" | x | lua x", "needs a name and a command line"),
    ("dup | | lua a\ndup | | lua b", "defined twice"),
])
def test_a_malformed_runs_file_is_refused_with_its_line(tmp_path, line, complaint):
    path = write(tmp_path / "runs.txt", "# comment\n" + line + "\n")
    with pytest.raises(RunsError, match=complaint) as error:
        load_runs(path)
    assert f"{path}:" in str(error.value)


def test_a_runs_file_without_runs_is_refused(tmp_path):
    with pytest.raises(RunsError, match="defines no run"):
        load_runs(write(tmp_path / "runs.txt", "# nothing\n\n"))


def test_generated_inputs_are_the_same_bytes_every_time_and_of_the_stated_size():
    text = inputs.text_bytes()
    assert text == inputs.text_bytes()
    assert inputs.TEXT_BYTES <= len(text) < inputs.TEXT_BYTES + 200
    numbers = inputs.numbers_bytes().decode().splitlines()
    assert len(numbers) == inputs.NUMBER_LINES
    assert all(0 <= int(n) < 1000000 for n in numbers)
    assert len(set(numbers)) < len(numbers), "sort -u should have duplicates to drop"


def test_an_unchanged_input_is_not_rewritten(tmp_path):
    target = tmp_path / "file"
    assert inputs.write_if_changed(target, b"abc")
    os.utime(target, ns=(1, 1))
    assert not inputs.write_if_changed(target, b"abc")
    assert target.stat().st_mtime_ns == 1
    assert inputs.write_if_changed(target, b"abd") and target.read_bytes() == b"abd"


def fake_layout(tmp_path, script):
    """A build/programs tree whose one program `prog` is a shell script."""
    layout = Layout(tmp_path / "programs")
    program = write(layout.bin / "prog", "#!/bin/sh\n" + script)
    program.chmod(0o755)
    layout.inputs.mkdir(parents=True)
    return layout


def test_host_outputs_are_recorded_once_and_then_left_alone(tmp_path):
    layout = fake_layout(tmp_path, 'echo "hello $1"\n')
    runs = [Run("greet", (), ("prog", "world"))]
    lines = []
    entries = expected.record_expected(layout, runs, lines.append)
    stdout_file = layout.expected / "greet.stdout"
    assert stdout_file.read_bytes() == b"hello world\n"
    assert entries["greet"].sha256 == hashlib.sha256(b"hello world\n").hexdigest()
    assert entries["greet"].size == 12 and entries["greet"].status == 0
    assert "recorded" in lines[0]
    before = {p: p.stat().st_mtime_ns for p in layout.expected.iterdir()}
    lines.clear()
    expected.record_expected(layout, runs, lines.append)
    assert "up to date" in lines[0]
    assert {p: p.stat().st_mtime_ns for p in layout.expected.iterdir()} == before


def test_a_damaged_recorded_output_is_recorded_again(tmp_path):
    layout = fake_layout(tmp_path, "echo fine\n")
    runs = [Run("r", (), ("prog",))]
    expected.record_expected(layout, runs, lambda line: None)
    (layout.expected / "r.stdout").write_bytes(b"damaged\n")
    lines = []
    expected.record_expected(layout, runs, lines.append)
    assert "recorded" in lines[0]
    assert (layout.expected / "r.stdout").read_bytes() == b"fine\n"


def test_a_run_whose_output_varies_is_not_recorded(tmp_path):
    layout = fake_layout(tmp_path, "cat /proc/sys/kernel/random/uuid\n")
    with pytest.raises(expected.ExpectedError, match="not deterministic"):
        expected.record_expected(layout, [Run("random", (), ("prog",))], lambda line: None)


def test_a_failing_run_is_not_recorded(tmp_path):
    layout = fake_layout(tmp_path, "echo broken >&2\nexit 3\n")
    with pytest.raises(expected.ExpectedError, match="status 3 on the host: broken"):
        expected.record_expected(layout, [Run("bad", (), ("prog",))], lambda line: None)


def compare_cli(*args):
    return subprocess.run([sys.executable, "-m", "programs.compare", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


@pytest.fixture
def recorded(tmp_path):
    layout = Layout(tmp_path / "programs")
    write(layout.expected / "out.stdout", "line one\nline two\n")
    sha = hashlib.sha256(b"line one\nline two\n").hexdigest()
    write(layout.expected / "MANIFEST", f"out {sha} 18 0 somekey\n")
    return layout


def test_an_identical_capture_compares_same(recorded, tmp_path):
    capture = write(tmp_path / "captured", "line one\nline two\n")
    result = compare_cli("--dir", recorded.root, "--status", 0, "out", capture)
    assert result.returncode == 0, result.stderr
    assert "out: same as the host" in result.stdout
    assert "1 same, 0 different" in result.stdout


def test_a_different_capture_names_the_first_differing_byte_and_line(recorded, tmp_path):
    capture = write(tmp_path / "captured", "line one\nline 2wo\n")
    result = compare_cli("--dir", recorded.root, "out", capture)
    assert result.returncode == 1
    # "line one\n" is 9 bytes, "line " 5 more: the first difference is byte 14, on line 2
    assert "first difference at byte 14 (line 2)" in result.stdout
    assert "0 same, 1 different" in result.stdout


def test_a_different_exit_status_is_a_difference(recorded, tmp_path):
    capture = write(tmp_path / "captured", "line one\nline two\n")
    result = compare_cli("--dir", recorded.root, "--status", 139, "out", capture)
    assert result.returncode == 1
    assert "exit status 139, host 0" in result.stdout


def test_without_recorded_outputs_the_comparison_refuses(tmp_path):
    capture = write(tmp_path / "captured", "x")
    result = compare_cli("--dir", tmp_path / "nothing", "out", capture)
    assert result.returncode == 2
    assert "MANIFEST: no expected outputs recorded" in result.stderr


def test_a_run_missing_from_a_captured_directory_counts_as_different(recorded, tmp_path):
    captured = tmp_path / "captured"
    captured.mkdir()
    runs = load_runs()
    lines = []
    for run in runs:
        lines.append(f"{run.name} {hashlib.sha256(b'').hexdigest()} 0 0 k\n")
        if run is not runs[0]:
            (captured / f"{run.name}.stdout").write_bytes(b"")
    write(recorded.expected / "MANIFEST", "".join(lines))
    result = compare_cli("--dir", recorded.root, "--all", captured)
    assert result.returncode == 1
    assert f"{runs[0].name}: DIFFERENT: no captured output" in result.stdout
    assert f"{len(runs) - 1} same, 1 different" in result.stdout


STRACE_C = """\
4321  arch_prctl(ARCH_SET_FS, 0x4ae6f8) = 0
4321  set_tid_address(0x4ae830)         = 4321
4321  ioctl(1, TIOCGWINSZ, 0x7ffc) = -1 ENOTTY (Inappropriate ioctl for device)
4321  exit_group(0)                     = ?
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.000006           6         1           arch_prctl
 40.00    0.000004           4         2         2 ioctl
  0.00    0.000000           0         1           set_tid_address
------ ----------- ----------- --------- --------- ----------------
100.00    0.000010           2         4         2 total
"""


def test_the_strace_summary_gives_each_call_its_counts_and_first_call():
    counts, first = syscalls.parse_strace(STRACE_C, "test")
    assert [(c.name, c.calls, c.errors) for c in counts] == [
        ("arch_prctl", 1, 0), ("ioctl", 2, 2), ("set_tid_address", 1, 0)]
    assert first["ioctl"].startswith("ioctl(1, TIOCGWINSZ")
    with pytest.raises(syscalls.TraceError, match="no strace -c summary"):
        syscalls.parse_strace(STRACE_C.split("% time")[0], "test")


def test_the_build_script_offline_without_a_cache_names_the_fetch_step(tmp_path):
    result = subprocess.run(["bash", str(BUILD_SCRIPT), str(tmp_path / "programs")],
                            capture_output=True, text=True, env={**os.environ, "PROGRAMS_OFFLINE": "1"})
    assert result.returncode == 1
    if "step 'fetch'" not in result.stderr:
        pytest.fail(f"no fetch step named (is scripts/install-deps.sh programs done?): {result.stderr}")
    assert "lua5.4: step 'fetch' needs the network, but PROGRAMS_OFFLINE=1" in result.stderr
    assert not (tmp_path / "programs" / "bin" / "lua").exists()


def test_show_describes_each_run_for_a_harness(recorded):
    runs = load_runs()
    result = subprocess.run([sys.executable, "-m", "programs.show", "--dir", str(recorded.root)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["name"] for s in shown] == [run.name for run in runs]
    first = shown[0]
    assert first["argv"] == list(runs[0].argv)
    assert first["binary"] == str(recorded.bin / runs[0].program)
    assert first["inputs"] == [str(recorded.inputs / name) for name in runs[0].inputs]
    assert first["expected_sha256"] is None, "the fixture's manifest records only run 'out'"
    unknown = subprocess.run([sys.executable, "-m", "programs.show", "no-such-run"],
                             capture_output=True, text=True, cwd=REPO)
    assert unknown.returncode == 1 and "unknown run no-such-run" in unknown.stderr
