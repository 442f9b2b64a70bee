"""The strace converter accepts what strace commonly writes: -T durations, -tt/-t/-r/no
timestamps, -i instruction pointers, and -f onto stderr (the first process unprefixed, "[pid N]"
for the others, strace's notes inside lines) give the ops the canonical `-f -ttt -o` log gives.
A thread's line after its process's exit_group makes no phantom process. A refused log says which
strace options to use."""

import pytest

from analyzer.export.workload import ConversionError, convert

MAP = "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
# pid, seconds, call: a process that maps, starts a thread, vforks a child that execs and maps,
# and exits. The canonical form, as `strace -f -ttt -o LOG` writes it.
CALLS = [
    (100, "1.000001", "brk(NULL) = 0x555555559000"),
    (100, "1.000002", f"{MAP} = 0x7f0000000000"),
    (100, "1.000003", "clone(child_stack=0x7f00, flags=CLONE_VM|CLONE_FS|CLONE_THREAD|CLONE_SIGHAND) = 101"),
    (101, "1.000004", f"{MAP} = 0x7f0000100000"),
    (100, "1.000005", "vfork( <unfinished ...>"),
    (102, "1.000006", 'execve("/bin/ls", ["ls"], 0x7ffd /* 3 vars */) = 0'),
    (100, "1.000007", "<... vfork resumed>) = 102"),
    (102, "1.000008", f"{MAP} = 0x7f0000200000"),
    (102, "1.000009", "exit_group(0) = ?"),
    (102, "1.000010", "+++ exited with 0 +++"),
    (100, "1.000011", "munmap(0x7f0000000000, 8192) = 0"),
    (100, "1.000012", "exit_group(0) = ?"),
    (101, "1.000013", "+++ exited with 0 +++"),
    (100, "1.000014", "+++ exited with 0 +++"),
]
EXPECTED = [(0, "start", 100), (0, "map", 0x7f0000000000, 8192, 3, 4),
            (0, "map", 0x7f0000100000, 8192, 3, 4), (0, "fork", 1, 102), (1, "exec"),
            (1, "map", 0x7f0000200000, 8192, 3, 4), (1, "exit"), (0, "unmap", 0x7f0000000000, 8192),
            (0, "exit")]


def ops(text):
    workload, report = convert(text, "t")
    return [(op.pid, type(op).__name__) + tuple(op[1:]) for op in workload.ops], report


def canonical():
    return "".join(f"{pid} {t} {call}\n" for pid, t, call in CALLS)


def test_the_canonical_log_gives_the_expected_ops():
    assert ops(canonical())[0] == EXPECTED


def with_duration(call):
    """-T: strace appends the time spent in each call that returned."""
    return call if call.endswith(("?", "...>", "+++")) else call + " <0.000031>"


VARIANTS = {
    "-T": lambda pid, t, call: f"{pid} {t} {with_duration(call)}",
    "-tt": lambda pid, t, call: f"{pid} 12:34:56.{t.split('.')[1]} {call}",
    "-t": lambda pid, t, call: f"{pid} 12:34:56 {call}",
    "-r": lambda pid, t, call: f"{pid}      0.000021 {call}",
    "no timestamp": lambda pid, t, call: f"{pid} {call}",
    "-i": lambda pid, t, call: f"{pid} {t} [00007f5b54322c47] {call}",
    "-i exited": lambda pid, t, call: f"{pid} {t} [{'?' * 16 if '+++' in call else '00007f5b5432'}] {call}",
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_log_in_another_common_format_gives_the_same_ops(variant):
    text = "".join(VARIANTS[variant](*c) + "\n" for c in CALLS)
    converted, report = ops(text)
    assert converted == EXPECTED and report.unusable == 0, report.unusable_shown


def test_a_log_written_onto_stderr_gives_the_same_process_tree():
    """strace -f without -o: no pid on the first process's lines until a second process exists,
    then "[pid N]" on every line; its own notes may cut a line in two."""
    lines = []
    for pid, t, call in CALLS:
        many = any(p == 102 for p, _, c in CALLS[:CALLS.index((pid, t, call)) + 1]) or pid != 100
        prefix = f"[pid {pid:>5}] " if many else ""
        if call == "vfork( <unfinished ...>":
            lines.append(f"{t} vfork(strace: Process 102 attached\n <unfinished ...>")
            continue
        lines.append(f"{prefix}{t} {call}")
    text = "\n".join(lines) + "\n"
    assert text.startswith("1.000001 brk(NULL)") and "[pid   100]" in text
    converted, report = ops(text)
    assert converted == EXPECTED and report.unusable == 0, report.unusable_shown


def test_a_threads_line_after_its_process_exit_group_makes_no_phantom_process():
    text = canonical().replace("101 1.000013 +++ exited with 0 +++",
                               "101 1.000013 munmap(0x7f0000100000, 8192) = 0\n"
                               "101 1.000013 +++ exited with 0 +++")
    converted, report = ops(text)
    assert converted == EXPECTED
    assert report.after_exit == {"munmap": 1}


@pytest.mark.parametrize("text, says", [
    ("", "the log is empty"),
    ("100 1.0 write(1, \"hi\", 2) = 2\n100 1.1 read(0, \"\", 1) = 0\n",
     "the log traces no memory call"),
    ("hello\nworld\n", "no line reads as strace output"),
])
def test_a_refused_log_says_which_strace_options_to_use(text, says):
    with pytest.raises(ConversionError) as refused:
        convert(text, "t")
    message = str(refused.value)
    assert says in message, message
    assert "strace -f -ttt -e trace=memory,process -o LOG PROGRAM" in message
