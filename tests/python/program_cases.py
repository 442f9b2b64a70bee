"""The runs of the test programs (tests/programs/) that the tests compare, and how to run one on
the host and in pagescope. One definition used by the host tests (test_programs_host.py, always
on) and by the boots (test_user_programs.py, behind the USER_PROGRAM_TESTS switch).

A run's expected outcome is never written here: it is what the same binary does on the host,
captured at test time. In pagescope the cases of one libc and memory size run in one boot
(run_group_in_pagescope), a single case alone through scripts/run-program.sh. The host run is set up like the guest's: the program and its files in
one directory that is the working directory (the programs name files relatively, and pagescope's
working directory is its root, where the module filesystem lies), argv[0] = "/NAME" as the kernel
passes it, the given environment and nothing else, stdin from the given bytes or empty, and an
8 MiB stack limit (what pagescope's prlimit64 reports).
"""

import os
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO
from programs import boot

PROGRAMS = REPO / "build" / "user-tests"
LIBCS = ("musl", "glibc")
BACKENDS = ("pagetable", "list")
SIGSEGV_STATUS = 128 + 11
DATA_BYTES = 10000  # data.txt: byte i = 'a' + i % 26 (tests/programs/files.c says so too)
DATA_TEXT = bytes(ord("a") + i % 26 for i in range(DATA_BYTES))
STACK_LIMIT = 8 << 20
FORK_BOMB_HOST_PROCESSES = 64  # the host's refusal: RLIMIT_NPROC, for an unprivileged user
UNPRIVILEGED_USER = 65534  # nobody: RLIMIT_NPROC does not bind root


@dataclass(frozen=True)
class Case:
    name: str
    program: str
    args: tuple = ()           # bytes words after argv[0]
    env: tuple = ()            # bytes "K=V" strings
    files: tuple = ()          # "data.txt", or the name of another program of the same libc
    stdin: bytes = None
    kills: int = 0             # processes the kernel kills (one kill report each)
    mem: str = "128M"
    host_process_limit: int = None

    @property
    def killed(self):
        """The first process itself dies of a SIGSEGV (exit status 139 on host and guest)."""
        return self.program == "segv"


SEGV_FAULTS = ("mprotect-write", "rodata-write", "exec-writable", "unreserved", "kernel-jump",
               "munmap-touch")
CASES = [
    Case("hello", "hello", args=(b"42",)),
    Case("argv_auxv", "argv_auxv",
         args=(b"plain", b"two words", b"", b"quotes ' \" and $HOME", b"bytes \x01\x7f\xfe\xff\n"),
         env=(b"PAGESCOPE_TEST=1", b"EMPTY=", b"BYTES=\xc3\xa9\x80")),
    Case("syscalls_misc", "syscalls_misc", files=("data.txt",)),
    Case("clocks_random", "clocks_random"),
    Case("files", "files", files=("data.txt",), stdin=b"line one\nline two\n" * 300),
    Case("writev", "writev"),
    Case("demand_zero", "demand_zero"),
    Case("stack_growth", "stack_growth"),
    Case("map_split", "map_split"),
    Case("mremap", "mremap"),
    Case("madvise", "madvise", files=("data.txt",)),
    Case("shared_anon", "shared_anon"),
    Case("cow", "cow"),
    Case("fork_wait", "fork_wait", kills=1),
    Case("vfork_exec", "vfork_exec", files=("exec_target",), env=(b"PARENT_ONLY=1",)),
    Case("fork_bomb", "fork_bomb", mem="64M", host_process_limit=FORK_BOMB_HOST_PROCESSES),
    *[Case(f"segv_{fault.replace('-', '_')}", "segv", args=(fault.encode(),), kills=1)
      for fault in SEGV_FAULTS],
]


def binary(libc, program):
    return PROGRAMS / libc / program


def build_programs():
    """Builds every program for both libcs and the bad ELF inputs (make user-tests)."""
    subprocess.run(["make", "-s", "user-tests"], cwd=REPO, check=True)


def stage(case, libc, directory):
    """Lays out the program's filesystem in `directory`; returns (program, files, stdin path)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / case.program
    shutil.copy2(binary(libc, case.program), program)
    files = []
    for name in case.files:
        path = directory / name
        if name == "data.txt":
            path.write_bytes(DATA_TEXT)
        else:
            shutil.copy2(binary(libc, name), path)
        files.append(path)
    stdin = None
    if case.stdin is not None:
        stdin = directory.parent / f"{directory.name}.stdin"
        stdin.write_bytes(case.stdin)
    return program, files, stdin


@dataclass(frozen=True)
class Outcome:
    status: int   # as a shell reports it: 128 + signal when killed
    stdout: bytes
    stderr: bytes


def _host_limits(process_limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_STACK, (STACK_LIMIT, resource.RLIM_INFINITY))
        if process_limit is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (process_limit, process_limit))
    return apply


def run_on_host(case, libc, directory):
    """The program's outcome on this Linux machine."""
    user = None
    if case.host_process_limit is not None and os.geteuid() == 0:
        # the process limit does not bind root: run as nobody, from a directory it can enter
        user = UNPRIVILEGED_USER
        directory = Path(tempfile.mkdtemp(prefix="pagescope-host-run-"))
        os.chmod(directory, 0o755)
    program, _, stdin = stage(case, libc, directory)
    with open(stdin if stdin else os.devnull, "rb") as stdin_file:
        done = subprocess.run([b"/" + case.program.encode(), *case.args], executable=program,
                              cwd=directory, env=dict(e.split(b"=", 1) for e in case.env),
                              stdin=stdin_file, capture_output=True, timeout=120, user=user,
                              preexec_fn=_host_limits(case.host_process_limit))
    if user is not None:
        shutil.rmtree(directory)
    status = done.returncode if done.returncode >= 0 else 128 - done.returncode
    return Outcome(status, done.stdout, done.stderr)


def run_group_in_pagescope(cases, libc, backend, directory, trace=None):
    """Every case of `cases` (one libc, one memory size) in one boot of build/pagescope.elf under
    icount (programs/boot.py: one run per case, named after it); returns (BootOutcome, kernel log
    text). Each case's files are staged in its own directory, so the host runs see the same."""
    mems = {case.mem for case in cases}
    assert len(mems) == 1, f"one boot has one memory size, not {sorted(mems)}"
    specs = []
    for case in cases:
        program, files, _ = stage(case, libc, Path(directory) / case.name)
        specs.append(boot.RunSpec(case.name, str(program), files=tuple(str(f) for f in files),
                                  args=case.args, env=case.env or None, stdin=case.stdin))
    log = Path(directory) / "kernel.log"
    booted = boot.boot_runs(REPO / "build" / "pagescope.elf", specs, vmm=backend, mem=mems.pop(),
                            icount=True, trace_out=trace, timeout=300, kernel_log=log)
    return booted, booted.log


def run_in_pagescope(case, libc, backend, directory, trace=None):
    """The outcome of scripts/run-program.sh (what `make run-program` runs), booting
    build/pagescope.elf under icount; returns (Outcome, kernel log text)."""
    program, files, stdin = stage(case, libc, directory)
    log = Path(directory).parent / f"{Path(directory).name}.kernel.log"
    command = [str(REPO / "scripts" / "run-program.sh"), "--elf", str(REPO / "build" / "pagescope.elf"),
               "--prog", str(program), "--vmm", backend, "--mem", case.mem, "--icount",
               "--timeout", "300", "--kernel-log", str(log)]
    for path in files:
        command += ["--file", str(path)]
    if stdin:
        command += ["--stdin", str(stdin)]
    for env in case.env:
        command += [b"--env", env]
    if trace:
        command += ["--trace-out", str(trace)]
    done = subprocess.run([*command, "--", *case.args], cwd=REPO, capture_output=True)
    kernel_log = log.read_text(errors="replace") if log.exists() else "(no kernel log)"
    return Outcome(done.returncode, done.stdout, done.stderr), kernel_log
