"""Writers never destroy a user's files and never leave a partial one: `report -o` replaces only a
report directory it made, a full disk leaves no truncated output, and a failed write names the
file that could not be written (not the input, not a temporary)."""

import os
import resource
import signal
import stat
import subprocess
import sys

from conftest import REPO

GCC_LOG = REPO / "benchmarks" / "workloads" / "gcc-compile.strace"


def analyzer(*args, cwd=REPO, file_size_limit=None):
    """Runs the analyzer; with file_size_limit, every file it writes is cut at that many bytes and
    the write fails with EFBIG, as a full disk would fail it with ENOSPC."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "analyzer", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True,
                          preexec_fn=limit if file_size_limit is not None else None)


def tree(directory):
    """Every path under `directory`, relative, with file contents: what a command must not touch."""
    return {str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(directory.rglob("*"))}


def write_trace(tmp_path, small_trace):
    trace = tmp_path / "input.pstrace"
    trace.write_bytes(small_trace)
    return trace


def test_report_refuses_a_directory_it_did_not_make_and_keeps_its_files(tmp_path, small_trace):
    trace = write_trace(tmp_path, small_trace)
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("precious\n")
    before = tree(tmp_path)
    result = analyzer("report", trace, "-o", out)
    assert result.returncode == 2, result.stderr
    assert f"{out}: exists and was not written by pagescope" in result.stderr
    assert tree(tmp_path) == before


def test_report_refuses_to_turn_a_file_into_a_directory(tmp_path, small_trace):
    trace = write_trace(tmp_path, small_trace)
    target = tmp_path / "some_file.txt"
    target.write_text("keep me\n")
    before = tree(tmp_path)
    result = analyzer("report", trace, "-o", target)
    assert result.returncode == 2 and "is not a report directory" in result.stderr, result.stderr
    assert tree(tmp_path) == before


def test_report_never_writes_over_its_input(tmp_path, small_trace):
    trace = write_trace(tmp_path, small_trace)
    before = tree(tmp_path)
    for output in (trace, tmp_path):  # the input itself, and the directory that holds it
        result = analyzer("report", trace, "-o", output)
        assert result.returncode == 2 and f"is or holds the input {trace}" in result.stderr, \
            (output, result.stderr)
        assert tree(tmp_path) == before


def test_report_into_the_current_directory_is_refused_and_leaves_nothing(tmp_path, small_trace):
    trace = write_trace(tmp_path, small_trace)
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("precious\n")
    before = tree(tmp_path)
    result = analyzer("report", trace, "-o", ".", cwd=work)
    assert result.returncode == 2, result.stderr
    assert tree(tmp_path) == before  # no ..old-XXXX, no .partial left beside it


def test_report_replaces_its_own_directory_with_normal_permissions(tmp_path, small_trace):
    trace = write_trace(tmp_path, small_trace)
    out = tmp_path / "report"
    first = analyzer("report", trace, "-o", out)
    assert first.returncode == 0, first.stderr
    (out / "index.html").write_text("stale")
    second = analyzer("report", trace, "-o", out)
    assert second.returncode == 0, second.stderr
    assert "stale" not in (out / "index.html").read_text()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.pstrace", "report"]


def test_workload_on_a_full_disk_leaves_no_truncated_file(tmp_path):
    out = tmp_path / "m.psw"
    result = analyzer("workload", GCC_LOG, "-o", out, file_size_limit=1024)
    assert result.returncode == 4, result.stderr
    assert f"error: {out}: cannot write: File too large" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_workload_on_a_full_disk_keeps_the_previous_file(tmp_path):
    out = tmp_path / "m.psw"
    out.write_bytes(b"previous")
    result = analyzer("workload", GCC_LOG, "-o", out, file_size_limit=1024)
    assert result.returncode == 4, result.stderr
    assert out.read_bytes() == b"previous" and list(tmp_path.iterdir()) == [out]


def test_a_full_disk_is_a_write_error_of_the_output_not_a_read_error(tmp_path, small_trace):
    trace = write_trace(tmp_path, small_trace)
    for command, name in (("perfetto", "t.pftrace"), ("frag", "t.csv")):
        out = tmp_path / name
        result = analyzer(command, trace, "-o", out, file_size_limit=256)
        assert result.returncode == 4, (command, result.stderr)
        assert result.stderr == f"error: {out}: cannot write: File too large\n", command
        assert not out.exists()


def test_report_on_a_full_disk_names_the_report_and_leaves_nothing(tmp_path, small_trace):
    trace = write_trace(tmp_path, small_trace)
    out = tmp_path / "report"
    result = analyzer("report", trace, "-o", out, file_size_limit=len(small_trace) + 8)
    assert result.returncode == 4, result.stderr
    assert f"error: {out}: cannot write: File too large" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.pstrace"]


def test_a_missing_output_directory_names_the_output_not_a_temporary(tmp_path, small_trace):
    trace = write_trace(tmp_path, small_trace)
    out = tmp_path / "no-such-directory" / "t.pftrace"
    result = analyzer("perfetto", trace, "-o", out)
    assert result.returncode == 4
    assert result.stderr == f"error: {out}: cannot write: No such file or directory\n"
