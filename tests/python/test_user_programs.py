"""The test programs in pagescope (issue 18): every run of program_cases.CASES, built against musl
and against glibc, booted under both VMM backends under icount with tracing on, prints on stdout
and stderr exactly what it prints on the host and exits with the host's status (139 for the
SIGSEGV cases, and one kill report per killed process in the kernel log); the two backends' traces
hold the identical sequence of system calls, page faults and process starts and exits. The cases
of one libc, backend and memory size share one boot (programs/boot.py: a run per case, its output
cut from the boot's streams by the kernel's byte counts, its events those of its phase), since a
QEMU start costs far more than most cases; the single-case boots go through
scripts/run-program.sh (what `make run-program` runs); together the programs make every system
call of the boot protocol and meet every fault rule; the same boot twice gives the same random
bytes and the same events (every field but the clock readings); and the ELF loader and the
filesystem refuse bad input (status 6 with a `program:` line naming why).

PAGESCOPE_USER_PROGRAM_TESTS says how many: `full` (`make test-programs`, and `make test` with the
Makefile's USER_PROGRAM_TESTS default: every case under both libcs and both backends), `quick`
(`make test USER_PROGRAM_TESTS=quick`: every case built against musl under both backends, and the
cases whose start-up or process handling differs with glibc built against glibc under both
backends too), `off` (skipped, saying so)."""

import difflib
import os
import re
import shutil
import subprocess
import sys

import pytest

import program_cases as pc
from programs import boot
from analyzer.definitions.events import FORMAT
from analyzer.reading.bulk import BulkTrace
from analyzer.metrics.processes import RUN_PHASE_PREFIX, program_runs, run_figures, select_run
from analyzer.reading.reader import TraceReader
from analyzer.reading.summary import summarize
from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import mkprogramfs  # noqa: E402  (the archive writer, to make bad archives from good parts)

MODE = os.environ.get("PAGESCOPE_USER_PROGRAM_TESTS", "off")
pytestmark = pytest.mark.skipif(
    MODE not in ("quick", "full"),
    reason="user-program boots are off: run `make test-programs`, or `make test` (its "
           "USER_PROGRAM_TESTS is full by default, quick or off when asked)")
# glibc's start-up (TLS, IRELATIVE, rseq, robust lists) and its fork, wait and exec wrappers ask
# the kernel for more than musl's: these cases run against glibc in the quick matrix too.
GLIBC_QUICK = ("hello", "argv_auxv", "syscalls_misc", "files", "fork_wait", "vfork_exec", "cow",
               "segv_unreserved")


def chosen(case, libc):
    return MODE == "full" or libc == "musl" or case.name in GLIBC_QUICK


RUN_PARAMS = [pytest.param(case, libc, backend, id=f"{case.name}-{libc}-{backend}")
              for case in pc.CASES for libc in pc.LIBCS for backend in pc.BACKENDS
              if chosen(case, libc)]
PAIR_PARAMS = [pytest.param(case, libc, id=f"{case.name}-{libc}")
               for case in pc.CASES for libc in pc.LIBCS if chosen(case, libc)]

REFUSED = 6
COMPARED_EVENTS = {  # the fields both backends must agree on (not work or ticks: they differ)
    "syscall": ("pid", "number", "arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "result"),
    "page_fault": ("pid", "addr", "rip", "access", "outcome"),
    "process_start": ("pid", "parent", "how", "text"),
    "process_exit": ("pid", "status", "reason"),
}


@pytest.fixture(scope="module")
def built():
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required to boot the programs")
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    pc.build_programs()


class Runs:
    """The cases of one (libc, backend, memory size) booted together once, in one boot with
    tracing on (programs/boot.py, one run per case), and each (case, libc) run on the host once."""

    def __init__(self, workdir):
        self.workdir, self.boots, self.host, self.events = workdir, {}, {}, {}

    def on_host(self, case, libc):
        key = (case.name, libc)
        if key not in self.host:
            self.host[key] = pc.run_on_host(case, libc, self.workdir / "host" / f"{case.name}-{libc}")
        return self.host[key]

    def in_pagescope(self, case, libc, backend):
        """(the case's RunOutcome, the boot's kernel log, the boot's trace)."""
        key = (libc, backend, case.mem)
        if key not in self.boots:
            name = f"{libc}-{backend}-{case.mem}"
            trace = self.workdir / f"{name}.pstrace"
            group = [c for c in pc.CASES if c.mem == case.mem]
            booted, log = pc.run_group_in_pagescope(group, libc, backend,
                                                    self.workdir / "guest" / name, trace)
            self.boots[key] = (booted, log, trace)
        booted, log, trace = self.boots[key]
        return booted.runs[case.name], log, trace

    def run_events(self, case, libc, backend):
        """The case's syscall, page_fault and process events (those of its run's phase)."""
        outcome, log, trace = self.in_pagescope(case, libc, backend)
        kernel_ran_it(outcome, log)
        if trace not in self.events:
            self.events[trace] = events_by_run(trace)
        return self.events[trace][case.name]


@pytest.fixture(scope="module")
def runs(built, tmp_path_factory):
    return Runs(tmp_path_factory.mktemp("user-programs"))


def kernel_ran_it(outcome, log):
    """Fails with the reason when the kernel or the harness, not the program, decided the status
    (for a run of a several-run boot: it has no status line of its own, or a problem)."""
    if isinstance(outcome, boot.RunOutcome):
        if outcome.problem or outcome.status is None:
            tail = "\n".join(log.splitlines()[-20:])
            pytest.fail(f"the kernel did not run the program to its end: {outcome.problem}\n"
                        f"--- last lines of the kernel log ---\n{tail}")
        return
    stderr = outcome.stderr.decode(errors="replace").splitlines()
    if any(line.startswith(("pagescope: exit status", "run-program:")) for line in stderr):
        tail = "\n".join(log.splitlines()[-20:])
        said = "\n".join(stderr[-25:])
        pytest.fail(f"the kernel did not run the program to its end: {said}\n"
                    f"--- last lines of the kernel log ---\n{tail}")


def differences(what, host, guest):
    """A unified diff of the host's and pagescope's output, line by line."""
    lines = difflib.unified_diff(host.decode(errors="replace").splitlines(),
                                 guest.decode(errors="replace").splitlines(),
                                 f"{what} on the host", f"{what} in pagescope", lineterm="")
    return "\n".join(lines)


@pytest.mark.parametrize("case, libc, backend", RUN_PARAMS)
def test_program_prints_and_exits_as_on_the_host(runs, case, libc, backend):
    outcome, log, _ = runs.in_pagescope(case, libc, backend)
    kernel_ran_it(outcome, log)
    host = runs.on_host(case, libc)
    assert outcome.stdout == host.stdout, differences("stdout", host.stdout, outcome.stdout)
    assert outcome.stderr == host.stderr, differences("stderr", host.stderr, outcome.stderr)
    assert outcome.status == host.status, f"exit status {outcome.status}, the host's {host.status}"
    assert len(outcome.kill_reports) == case.kills, f"kill reports: {outcome.kill_reports}"


def user_events(trace):
    """The trace's syscall, page_fault and process events, each as the fields both backends
    must agree on."""
    reader = TraceReader.open(trace)
    events = []
    for event in reader.events():
        kind = type(event).__name__
        if kind in COMPARED_EVENTS:
            events.append((kind, *(getattr(event, f) for f in COMPARED_EVENTS[kind])))
    return events


def events_by_run(trace):
    """{run name: its user events (as user_events)} of a several-run boot's trace: run NAME is
    the phase "program:NAME" (kernel/workload/scenario_program.c)."""
    runs, current = {}, None
    for event in TraceReader.open(trace).events():
        kind = type(event).__name__
        if kind in ("phase_begin", "phase_end") and event.text.startswith(RUN_PHASE_PREFIX):
            current = event.text[len(RUN_PHASE_PREFIX):] if kind == "phase_begin" else None
            if current is not None:
                assert current not in runs, f"{trace}: run {current} begins twice"
                runs[current] = []
        elif kind in COMPARED_EVENTS:
            assert current is not None, f"{trace}: a {kind} event outside every run's phase"
            runs[current].append((kind, *(getattr(event, f) for f in COMPARED_EVENTS[kind])))
    return runs


@pytest.mark.parametrize("case, libc", PAIR_PARAMS)
def test_both_backends_see_the_same_syscalls_and_faults(runs, case, libc):
    sequences = {}
    for backend in pc.BACKENDS:
        outcome, log, trace = runs.in_pagescope(case, libc, backend)
        kernel_ran_it(outcome, log)
        summary = summarize(TraceReader.open(trace))
        assert summary.problems == [] and sum(summary.lost.values()) == 0, trace
        sequences[backend] = runs.run_events(case, libc, backend)
    kinds = {event[0] for event in sequences["pagetable"]}
    assert kinds >= {"syscall", "process_start", "process_exit"}, \
        f"the trace lacks some user events: it has {sorted(kinds)}"
    pagetable, listed = sequences["pagetable"], sequences["list"]
    for index, (a, b) in enumerate(zip(pagetable, listed)):
        assert a == b, f"event {index} differs: pagetable {a}, list {b}"
    assert len(pagetable) == len(listed)


@pytest.mark.parametrize("backend", pc.BACKENDS)
def test_a_boot_of_many_runs_comes_apart_by_run_and_check_takes_its_bookkeeping(runs, backend):
    """`analyzer check` replays the whole boot and finds nothing wrong (the bookkeeping reports
    after process_resident included, and madvise's refill of a dropped file page, which may reuse
    the frame it just freed), and the analyzer's run windows hold each case's own processes: its
    program first, no pid of another run."""
    group = [case for case in pc.CASES if case.mem == pc.CASES[0].mem]
    _, log, trace = runs.in_pagescope(group[0], "musl", backend)
    done = subprocess.run([sys.executable, "-m", "analyzer", "check", str(trace)], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "checked against snapshots" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    bulk = BulkTrace.open(trace)
    windows = program_runs(bulk)
    assert [w.run for w in windows] == [case.name for case in group]
    seen_pids = set()
    for case, window in zip(group, windows):
        figures = run_figures(window)
        assert figures.processes, f"run {case.name} has no process"
        assert figures.processes[0].programs[0] == f"/{case.program}", figures.processes[0]
        pids = {p.pid for p in figures.processes}
        assert not pids & seen_pids, f"run {case.name} shares pids {pids & seen_pids}"
        seen_pids |= pids
    assert select_run(bulk, group[1].name).run == group[1].name
    with pytest.raises(ValueError, match="not 'no-such-run'"):
        select_run(bulk, "no-such-run")
    after_resident = set((bulk.of("process_resident")["position"] + 1).tolist())
    reports = bulk.of("vmm_bookkeeping")["position"].tolist()
    assert any(position in after_resident for position in reports), \
        "no vmm_bookkeeping right after a process_resident: the bookkeeping is only at snapshots"


# The system calls the boot protocol says the kernel implements (README.md, "Running programs").
PROTOCOL_SYSCALLS = (
    "read", "write", "writev", "readv", "open", "openat", "close", "lseek", "fstat", "newfstatat",
    "stat", "lstat", "pread64", "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "exit",
    "exit_group", "arch_prctl", "set_tid_address", "clock_gettime", "gettimeofday", "time",
    "getpid", "getppid", "gettid", "uname", "getrandom", "fork", "vfork", "clone", "execve",
    "wait4", "ioctl", "rt_sigaction", "rt_sigprocmask", "getuid", "geteuid", "getgid", "getegid",
    "sched_yield", "access", "getcwd", "readlink", "prlimit64", "getrlimit", "set_robust_list",
    "rseq")


def syscall_numbers():
    """{name: number} from trace/linux_syscalls.def, the one table of them."""
    text = (REPO / "trace" / "linux_syscalls.def").read_text()
    return {name: int(number) for number, name in re.findall(r"^SYSCALL\((\d+), (\w+)\)", text, re.M)}


def test_the_programs_make_every_system_call_of_the_protocol(runs):
    numbers = syscall_numbers()
    assert set(PROTOCOL_SYSCALLS) <= set(numbers), set(PROTOCOL_SYSCALLS) - set(numbers)
    seen = set()
    for case in pc.CASES:
        for libc in pc.LIBCS:
            seen |= {event[2] for event in runs.run_events(case, libc, "pagetable")
                     if event[0] == "syscall"}
    missing = [name for name in PROTOCOL_SYSCALLS if numbers[name] not in seen]
    assert missing == [], f"no test program's trace has these calls: {missing}"
    assert {400, 1000} <= seen, "the calls Linux does not have are traced too"


def test_the_programs_meet_every_fault_rule(runs):
    """Every way a fault ends, but running out of memory and a spurious fault, happens in some
    test program's trace (zero fill, stack growth, copy-on-write copy and reuse, the refusals)."""
    outcomes = FORMAT.values["fault_outcome"]
    seen = set()
    for case in pc.CASES:
        for libc in pc.LIBCS:
            seen |= {outcomes[event[5]] for event in runs.run_events(case, libc, "pagetable")
                     if event[0] == "page_fault"}
    expected = set(outcomes.values()) - {"out_of_memory", "spurious"}
    assert seen >= expected, f"no test program's trace has faults ending {sorted(expected - seen)}"


def test_the_same_boot_twice_gives_the_same_random_bytes_and_events(built, tmp_path):
    case = pc.Case("clocks_random_print", "clocks_random", args=(b"print",))
    boots = []
    for attempt in ("first", "second"):
        trace = tmp_path / f"{attempt}.pstrace"
        outcome, log = pc.run_in_pagescope(case, "musl", "pagetable", tmp_path / attempt, trace)
        kernel_ran_it(outcome, log)
        assert outcome.status == 0 and re.fullmatch(rb"[0-9a-f]{64}\n", outcome.stdout), outcome
        boots.append((outcome.stdout, without_timestamps(trace)))
    assert boots[0][0] == boots[1][0], "getrandom gave other bytes in the same boot"
    first, second = boots[0][1], boots[1][1]
    for index, (a, b) in enumerate(zip(first, second)):
        assert a == b, f"event {index} differs: {a} then {b}"
    assert len(first) == len(second)


def without_timestamps(trace):
    """The trace's header and events, every timestamp left out. Under icount the kernel's
    instruction count is still not the same at each point on every boot (GRUB and the firmware
    before it, and the kernel's waits on the trace device, poll for as long as the host takes), so
    what must repeat exactly is every event and every field but the clock readings; `ticks` (the
    instructions inside one fault or call) must repeat too."""
    reader = TraceReader.open(trace)
    header = {k: v for k, v in reader.header.fields.items() if k != "start_timestamp"}
    events = [e._replace(timestamp=None) for e in reader.events()]
    return [("header", header, reader.header.cmdline, reader.header.build_id), *events]


BAD_ELF = ("truncated", "corrupt", "other-machine", "dynamic", "not-an-elf")


def test_the_elf_loader_refuses_a_bad_program_run_alone(built, tmp_path):
    """Through scripts/run-program.sh: status 6, a `program:` line naming the file and why."""
    name = BAD_ELF[0]
    program = pc.PROGRAMS / "bad-elf" / name
    log = tmp_path / "kernel.log"
    done = subprocess.run([str(REPO / "scripts" / "run-program.sh"), "--elf",
                           str(REPO / "build" / "pagescope.elf"), "--prog", str(program),
                           "--kernel-log", str(log), "--timeout", "300"], capture_output=True)
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == REFUSED, stderr
    assert re.search(rf"^(scenario )?program: .*/{name}: \S", stderr, re.M), \
        f"no `program:` line names the program and says why:\n{stderr}"
    assert "pagescope: exit status 6 (a scenario refused its input)" in stderr
    assert done.stdout == b""


def test_the_elf_loader_refuses_every_bad_program_and_the_other_runs_go_on(built, tmp_path):
    """One boot: a good run between the bad ones. Each bad program is refused with a line naming
    it and why; the good run prints and exits as alone; the boot then exits 6 (refused input)."""
    hello = boot.RunSpec("hello", str(pc.binary("musl", "hello")), args=(b"42",))
    bad = [boot.RunSpec(f"bad-{name}", str(pc.PROGRAMS / "bad-elf" / name)) for name in BAD_ELF]
    booted = boot.boot_runs(REPO / "build" / "pagescope.elf", [bad[0], hello, *bad[1:]],
                            kernel_log=tmp_path / "kernel.log")
    assert booted.status == REFUSED, booted.harness
    good = booted.runs["hello"]
    assert (good.status, good.stdout, good.problem) == (42, b"hello from stdout\n", None), good
    for spec, name in zip(bad, BAD_ELF):
        outcome = booted.runs[spec.name]
        assert outcome.status is None and outcome.stdout == b"", outcome
        assert re.match(rf"the kernel refused the run: cannot start /{name}: \S", outcome.problem
                        or ""), outcome.problem
    assert re.search(r"^scenario program: .*5 of 6 runs could not start", booted.log, re.M), \
        booted.log[-2000:]


@pytest.mark.parametrize("problem", ["truncated-archive", "no-argv", "run-without-argv"])
def test_a_bad_module_filesystem_is_refused(built, tmp_path, problem):
    program = pc.binary("musl", "hello").read_bytes()
    if problem == "truncated-archive":
        archive = mkprogramfs.newc_archive([(b"hello", program, 0o755), (b".argv", b"/hello\0", 0o644)])[:5000]
    elif problem == "no-argv":
        archive = mkprogramfs.newc_archive([(b"hello", program, 0o755)])
    else:  # a second run named in .runs has no .argv.NAME: refused before the first runs
        archive = mkprogramfs.newc_archive([(b"hello", program, 0o755), (b".runs", b"a\0b\0", 0o644),
                                            (b".argv.a", b"/hello\0", 0o644)])
    module = tmp_path / "program.cpio"
    module.write_bytes(archive)
    log = tmp_path / "kernel.log"
    done = subprocess.run([str(REPO / "scripts" / "qemu-run.sh"), "--elf",
                           str(REPO / "build" / "pagescope.elf"), "--args", "scenario=program",
                           "--module", str(module), "--serial-log", str(log), "--timeout", "300"],
                          capture_output=True)
    text = log.read_text(errors="replace").replace("\r", "")
    assert done.returncode == REFUSED, done.stderr.decode(errors="replace")
    assert re.search(r"^(scenario )?program: .*(cpio|\.argv)", text, re.M), \
        f"no `program:` line in the kernel log says why:\n{text[-2000:]}"
    assert "program: run a:" not in text, "run a ran although the run list was refused"
