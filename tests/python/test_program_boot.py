"""Several runs in one boot, on the host side (programs/boot.py, scripts/mkprogramfs.py): the
boot's two program streams are cut into runs exactly at the kernel's byte counts, kill reports go
to the run whose status line follows them, counts that do not add up to the streams leave no run
trusted, an unfinished run gets what follows the last counted byte, and the archive of several
runs holds each file once, `.runs` and every run's `.argv.NAME`, `.envp.NAME`, `.stdin.NAME`, and
refuses names and files that cannot share one root. The boots themselves are
tests/python/test_user_programs.py's."""

import sys

import pytest

from conftest import REPO
from programs.boot import split_runs

sys.path.insert(0, str(REPO / "scripts"))
import mkprogramfs  # noqa: E402


def status(name, code, out, err):
    return f"program: run {name}: exit status {code}, stdout {out} bytes, stderr {err} bytes"


def test_the_streams_are_cut_at_the_counts_and_kill_reports_go_to_their_run():
    log = "\n".join(["boot noise", status("a", 0, 3, 0),
                     "program: pid 2 killed by signal 11 (SIGSEGV): read from 0x10",
                     "program: faults: refused_outside=1", status("b", 139, 0, 2),
                     status("c", 7, 4, 1), "pagescope: done, exit status 0"])
    runs = split_runs(["a", "b", "c"], log, b"one" + b"four", b"e2" + b"x")
    assert [(r.status, r.stdout, r.stderr, r.problem) for r in runs.values()] == [
        (0, b"one", b"", None), (139, b"", b"e2", None), (7, b"four", b"x", None)]
    assert runs["b"].kill_reports == ["program: pid 2 killed by signal 11 (SIGSEGV): read from 0x10"]
    assert runs["a"].kill_reports == [] and runs["c"].kill_reports == []


@pytest.mark.parametrize("stdout", [b"onefour!", b"onefou"])
def test_counts_that_do_not_cover_the_streams_leave_no_run_trusted(stdout):
    log = "\n".join([status("a", 0, 3, 0), status("c", 0, 4, 0)])
    runs = split_runs(["a", "c"], log, stdout, b"")
    for run in runs.values():
        assert run.status is None and "cannot be cut into runs" in run.problem


def test_a_run_the_boot_did_not_finish_gets_the_rest_and_says_why():
    log = "\n".join([status("a", 0, 3, 0), "program: pid 3 killed by signal 9 (SIGKILL): x",
                     "kernel panic: something"])
    harness = "pagescope: exit status 2 (kernel panic)\n"
    runs = split_runs(["a", "b", "c"], log, b"onepartial", b"err", 2, harness)
    assert (runs["a"].status, runs["a"].stdout, runs["a"].problem) == (0, b"one", None)
    b = runs["b"]
    assert (b.status, b.stdout, b.stderr) == (None, b"partial", b"err")
    assert b.kill_reports == ["program: pid 3 killed by signal 9 (SIGKILL): x"]
    assert "did not end" in b.problem and "exit status 2 (kernel panic)" in b.problem
    assert "kernel panic: something" in b.problem
    assert runs["c"].stdout == b"" and "did not end" in runs["c"].problem


def test_a_refused_run_says_why_and_the_others_keep_their_bytes():
    log = "\n".join(["program: run a: refused: cannot start /a: not an ELF file",
                     status("b", 0, 2, 0)])
    runs = split_runs(["a", "b"], log, b"ok", b"")
    assert runs["a"].status is None
    assert runs["a"].problem == "the kernel refused the run: cannot start /a: not an ELF file"
    assert (runs["b"].status, runs["b"].stdout) == (0, b"ok")


def test_the_archive_of_several_runs_holds_each_file_once_and_every_runs_entries(tmp_path):
    prog, data = tmp_path / "prog", tmp_path / "data.txt"
    prog.write_bytes(b"\x7fELF program")
    data.write_bytes(b"data")
    entries = mkprogramfs.runs_filesystem([
        mkprogramfs.RunSpec("first", str(prog), files=(str(data),), args=(b"x y",)),
        mkprogramfs.RunSpec("second", str(prog), files=(str(data),), env=(b"K=V",),
                            stdin=b"in")])
    names = [name for name, _, _ in entries]
    assert names == [b"prog", b"data.txt", b".runs", b".argv.first", b".argv.second",
                     b".envp.second", b".stdin.second"]
    found = {name: data for name, data, _ in entries}
    assert found[b".runs"] == b"first\0second\0"
    assert found[b".argv.first"] == b"/prog\0x y\0"
    assert found[b".envp.second"] == b"K=V\0" and found[b".stdin.second"] == b"in"
    archive = mkprogramfs.newc_archive(entries)
    assert archive.count(b"\x7fELF program") == 1


@pytest.mark.parametrize("problem", ["bad-name", "same-name", "other-bytes", "reserved-file"])
def test_runs_that_cannot_share_one_root_are_refused(tmp_path, problem):
    prog = tmp_path / "prog"
    prog.write_bytes(b"program")
    other = tmp_path / "other"
    other.mkdir()
    if problem == "bad-name":
        runs = [mkprogramfs.RunSpec("a b", str(prog))]
    elif problem == "same-name":
        runs = [mkprogramfs.RunSpec("a", str(prog)), mkprogramfs.RunSpec("a", str(prog))]
    elif problem == "other-bytes":
        (other / "prog").write_bytes(b"another program")
        runs = [mkprogramfs.RunSpec("a", str(prog)), mkprogramfs.RunSpec("b", str(other / "prog"))]
    else:
        (other / ".runs").write_bytes(b"x")
        runs = [mkprogramfs.RunSpec("a", str(prog), files=(str(other / ".runs"),))]
    with pytest.raises(mkprogramfs.Refused):
        mkprogramfs.runs_filesystem(runs)
