"""The strace -> workload converter (analyzer/export/workload.py) on small hand-written logs, one rule
each, and the workload format's reader (analyzer/definitions/workload_format.py) on corrupt files."""

import subprocess
import sys

import pytest

from analyzer.definitions import workload_format as wf
from analyzer.export.workload import ConversionError, convert

from conftest import REPO

MMAP = "mmap(NULL, {n}, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = {addr:#x}"


def log(*lines):
    return "\n".join(lines) + "\n"


def ops(workload, name=None):
    return [(op.pid, type(op).__name__) + tuple(op[1:]) for op in workload.ops
            if name is None or type(op).__name__ == name]


def test_simple_calls_become_ops_with_lengths_rounded_to_pages():
    w, r = convert(log(
        "100 1.000001 brk(NULL) = 0x555555559000",
        "100 1.000002 " + MMAP.format(n=5000, addr=0x7f0000000000),
        "100 1.000003 mprotect(0x7f0000000000, 4096, PROT_READ) = 0",
        "100 1.000004 brk(0x55555557a000) = 0x55555557a000",
        "100 1.000005 mremap(0x7f0000000000, 8192, 16384, MREMAP_MAYMOVE) = 0x7f0000100000",
        "100 1.000006 munmap(0x7f0000100000, 16384) = 0",
    ), "t")
    assert ops(w) == [
        (0, "start", 100),
        (0, "map", 0x7f0000000000, 8192, wf.PROT["read"] | wf.PROT["write"],
         wf.MAP_FLAGS["anonymous"]),
        (0, "protect", 0x7f0000000000, 4096, wf.PROT["read"]),
        (0, "brk", 0x21000),
        (0, "remap", 0x7f0000000000, 8192, 0x7f0000100000, 16384),
        (0, "unmap", 0x7f0000100000, 16384),
        (0, "exit"),
    ]
    assert r.processes == 1 and r.unusable == 0
    assert r.peak_mapped == 16384 + 0x21000
    assert wf.decode(wf.encode(w)).ops == w.ops  # what is written reads back


def test_unfinished_and_resumed_halves_are_joined():
    w, r = convert(log(
        "100 1.0 clone(child_stack=0x7f00, flags=CLONE_VM|CLONE_FS|CLONE_THREAD|CLONE_SIGHAND) = 101",
        "100 1.1 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>",
        "101 1.2 " + MMAP.format(n=4096, addr=0x7f0000200000),
        "100 1.3 <... mmap resumed>) = 0x7f0000300000",
    ), "t")
    maps = ops(w, "map")
    assert [m[2] for m in maps] == [0x7f0000200000, 0x7f0000300000]  # in the order they returned
    assert maps[1][3] == 8192 and r.unusable == 0


def test_failed_calls_are_skipped_and_counted():
    w, r = convert(log(
        "100 1.0 brk(NULL) = 0x555555559000",
        "100 1.1 mmap(NULL, 1099511627776, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM "
        "(Cannot allocate memory)",
        "100 1.2 brk(0x655555559000) = 0x555555559000",  # a failed brk returns the old break
        "100 1.3 munmap(0x7f0000000000, 4096) = -1 EINVAL (Invalid argument)",
        "100 1.4 " + MMAP.format(n=4096, addr=0x7f0000000000),
    ), "t")
    assert r.failed == {"mmap": 1, "brk": 1, "munmap": 1}
    assert [o[1] for o in ops(w)] == ["start", "map", "exit"]


def test_threads_share_their_process():
    w, r = convert(log(
        "100 1.0 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, "
        "exit_signal=0, stack=0x7f00, stack_size=0x7ff80} => {parent_tid=[101]}, 88) = 101",
        "101 1.1 " + MMAP.format(n=4096, addr=0x7f0000000000),
        "101 1.2 +++ exited with 0 +++",
        "100 1.3 munmap(0x7f0000000000, 4096) = 0",  # the thread's mapping is the process's
        "100 1.4 exit_group(0) = ?",
        "100 1.5 +++ exited with 0 +++",
    ), "t")
    assert w.process_count == 1 and r.threads == 1
    assert [o[:2] for o in ops(w)] == [(0, "start"), (0, "map"), (0, "unmap"), (0, "exit")]
    assert not r.never_mapped


def test_fork_starts_a_process_with_a_copy_of_the_parents_mappings():
    w, r = convert(log(
        "100 1.0 " + MMAP.format(n=4096, addr=0x7f0000000000),
        "100 1.1 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
        "child_tidptr=0x7f00) = 101",
        "101 1.2 munmap(0x7f0000000000, 4096) = 0",  # inherited: a real unmap
        "100 1.3 vfork() = 102",
        "102 1.4 " + MMAP.format(n=4096, addr=0x7f0000001000),
        "101 1.5 +++ exited with 0 +++",
    ), "t")
    assert w.process_count == 3
    assert ("fork" in [o[1] for o in ops(w)])
    forks = ops(w, "fork")
    assert [(f[0], f[2], f[3]) for f in forks] == [(0, 1, 101), (0, 2, 102)]
    assert (1, "unmap", 0x7f0000000000, 4096) in ops(w)
    assert (2, "map") == ops(w, "map")[1][:2]
    assert not r.never_mapped


def test_clone_vfork_child_is_a_process_not_a_thread():
    w, r = convert(log(
        "100 1.0 clone(child_stack=0x7f00, flags=CLONE_VM|CLONE_VFORK|SIGCHLD) = 101",
        "101 1.1 execve(\"/bin/true\", [\"true\"], 0x7ffd /* 3 vars */) = 0",
        "101 1.2 " + MMAP.format(n=4096, addr=0x7f0000000000),
    ), "t")
    assert w.process_count == 2 and r.threads == 0
    assert (1, "exec") in [o[:2] for o in ops(w)]


def test_exec_replaces_the_address_space():
    w, r = convert(log(
        "100 1.0 " + MMAP.format(n=4096, addr=0x7f0000000000),
        "100 1.1 execve(\"/bin/ls\", [\"ls\"], 0x7ffd /* 3 vars */) = 0",
        "100 1.2 munmap(0x7f0000000000, 4096) = 0",  # gone with the old image
        "100 1.3 execve(\"/nonexistent\", [\"x\"], 0x7ffd /* 3 vars */) = -1 ENOENT (No such file)",
    ), "t")
    assert [o[1] for o in ops(w)] == ["start", "map", "exec", "exit"]
    assert r.never_mapped == {"unmap": 1} and r.failed == {"execve": 1}


def test_memory_only_log_each_pid_its_own_process_and_foreign_unmaps_counted():
    w, r = convert(log(
        "100 1.0 " + MMAP.format(n=4096, addr=0x7f0000000000),
        "101 1.1 " + MMAP.format(n=4096, addr=0x7f0000001000),
        "101 1.2 munmap(0x7f0000000000, 4096) = 0",  # pid 101 never mapped this
    ), "t")
    assert w.process_count == 2
    assert [o[:2] for o in ops(w, "start")] == [(0, "start"), (1, "start")]
    assert r.never_mapped == {"unmap": 1} and not ops(w, "unmap")


def test_garbage_lines_are_counted_and_the_first_shown_with_line_numbers():
    lines = ["this is not strace"] * 8
    lines.insert(1, "100 1.0 " + MMAP.format(n=4096, addr=0x7f0000000000))
    lines.append("100 1.1 --- SIGCHLD {si_signo=SIGCHLD} ---")  # recognised, not garbage
    w, r = convert(log(*lines), "t")
    assert r.unusable == 8
    assert r.unusable_shown[0] == "line 1: this is not strace"
    assert r.unusable_shown[1].startswith("line 3: ") and len(r.unusable_shown) == 5


def test_empty_or_useless_log_is_an_error_with_one_line():
    with pytest.raises(ConversionError):
        convert("", "t")
    with pytest.raises(ConversionError):
        convert(log("100 1.0 wait4(-1, NULL, 0, NULL) = 101", "junk"), "t")


def test_cli_prints_counts_and_fails_cleanly(tmp_path):
    good = tmp_path / "good.strace"
    good.write_text(log("100 1.0 " + MMAP.format(n=4096, addr=0x7f0000000000),
                        "100 1.1 munmap(0x7f0000000000, 4096) = 0"))
    out = tmp_path / "good.psw"
    cli = subprocess.run([sys.executable, "-m", "analyzer", "workload", str(good), "-o", str(out)],
                         cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "map 1, unmap 1" in cli.stdout and "processes   1" in cli.stdout
    assert "peak mapped 4096 bytes" in cli.stdout
    assert wf.read(out).counts()[(0, "map")] == 1

    empty = tmp_path / "empty.strace"
    empty.write_text("")
    cli = subprocess.run([sys.executable, "-m", "analyzer", "workload", str(empty), "-o",
                          str(tmp_path / "x.psw")], cwd=REPO, capture_output=True, text=True)
    assert cli.returncode != 0
    assert cli.stderr.count("\n") == 1 and "nothing usable" in cli.stderr
    assert not (tmp_path / "x.psw").exists()


def test_committed_workloads_are_what_the_converter_makes_of_their_logs():
    logs = sorted((REPO / "benchmarks" / "workloads").glob("*.strace"))
    assert len(logs) >= 3
    for path in logs:
        committed = wf.read(path.with_suffix(".psw"))
        made, _ = convert(path.read_text(), committed.name)
        assert wf.encode(made) == path.with_suffix(".psw").read_bytes(), path.name


# ---- the format's reader ------------------------------------------------------------------------

def small_file():
    return wf.encode(wf.Workload("w", 2, [
        wf.op("start", 0, os_pid=1),
        wf.op("map", 0, addr=0x7f0000000000, length=4096, prot=3, map_flags=4),
        wf.op("fork", 0, child=1, os_pid=2),
        wf.op("exit", 1),
    ]))


def corrupt(data, offset, value):
    data = bytearray(data)
    data[offset] = value
    return bytes(data)


HEADER = wf.WFORMAT.header.size + 1  # one-byte name


@pytest.mark.parametrize("mutate, offset, message", [
    (lambda d: d[:-3], len(small_file()) - 3, "truncated"),
    (lambda d: d + b"\0", len(small_file()), "trailing bytes"),
    (lambda d: corrupt(d, 0, 0), 0, "bad magic"),
    (lambda d: corrupt(d, HEADER, 99), HEADER, "unknown op code 99"),
    (lambda d: corrupt(d, HEADER + 1, 1), HEADER, "reserved flags"),
    (lambda d: corrupt(d, HEADER + 4, 5), HEADER, "process 5 of 2"),
    # the fork's child number made 0: not a new process
    (lambda d: corrupt(d, HEADER + 12 + 26 + 8, 0), HEADER + 12 + 26, "not a new process"),
])
def test_reader_refuses_corrupt_files_at_the_right_offset(mutate, offset, message):
    with pytest.raises(wf.WorkloadError) as e:
        wf.decode(mutate(small_file()))
    assert e.value.offset == offset and message in str(e.value)
