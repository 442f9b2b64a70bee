"""The user-program harness without a kernel: scripts/mkprogramfs.py's newc archives read back by
GNU cpio (an independent reader), byte for byte, deterministic, with bad input refused and no file
left; and scripts/run-program.sh over a stand-in for qemu-run.sh that plays back what a kernel
wrote on its three serial ports and the status it exited with: the program's bytes pass through
exactly, its exit status comes from `program: exit status N`, kill reports go to stderr, and a
kernel failure keeps qemu-run.sh's status and says why."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO

MKPROGRAMFS = REPO / "scripts" / "mkprogramfs.py"
RUN_PROGRAM = REPO / "scripts" / "run-program.sh"


def mkfs(*args):
    return subprocess.run([sys.executable, str(MKPROGRAMFS), *args], capture_output=True)


def extract(archive, into):
    """The archive's files by name, as GNU cpio extracts them, and its member list in order."""
    if shutil.which("cpio") is None:
        pytest.fail("cpio is required (scripts/install-deps.sh programs installs it)")
    into.mkdir()
    with open(archive, "rb") as data:
        subprocess.run(["cpio", "-i", "--quiet", "--no-absolute-filenames"], stdin=data, cwd=into,
                       check=True)
    listing = subprocess.run(["cpio", "-t", "--quiet"], stdin=open(archive, "rb"),
                             capture_output=True, check=True).stdout.split(b"\n")[:-1]
    files = {os.fsencode(p.name): (p.read_bytes(), p.stat().st_mode & 0o777) for p in into.iterdir()}
    return files, listing


@pytest.fixture
def inputs(tmp_path):
    program = tmp_path / "prog"
    program.write_bytes(b"\x7fELF pretend program" * 100)
    program.chmod(0o755)
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 3 + b"odd")  # a length that needs padding
    stdin = tmp_path / "input"
    stdin.write_bytes(b"typed\n")
    return program, data, stdin


def test_archive_reads_back_through_gnu_cpio_byte_for_byte(tmp_path, inputs):
    program, data, stdin = inputs
    archive = tmp_path / "fs.cpio"
    words = [b"two words", b"", b"\x01\xfe\xff'\"$", b"-dash"]
    done = subprocess.run([sys.executable, str(MKPROGRAMFS), "-o", str(archive), "--program",
                           str(program), "--file", str(data), "--stdin", str(stdin), "--env",
                           "A=1", "--env", b"B=\xc3\xa9", "--", *words], capture_output=True)
    assert done.returncode == 0, done.stderr
    files, listing = extract(archive, tmp_path / "out")
    assert listing == [b"prog", b"data.bin", b".argv", b".envp", b".stdin"]
    assert files[b"prog"] == (program.read_bytes(), 0o755)
    assert files[b"data.bin"] == (data.read_bytes(), 0o644)
    assert files[b".argv"][0] == b"/prog\0" + b"".join(w + b"\0" for w in words)
    assert files[b".envp"][0] == b"A=1\0B=\xc3\xa9\0"
    assert files[b".stdin"][0] == b"typed\n"
    raw = archive.read_bytes()
    assert raw.startswith(b"070701") and b"TRAILER!!!\0" in raw and len(raw) % 4 == 0


def test_archive_without_env_or_stdin_has_neither_entry(tmp_path, inputs):
    program, _, _ = inputs
    archive = tmp_path / "fs.cpio"
    assert mkfs("-o", str(archive), "--program", str(program)).returncode == 0
    files, listing = extract(archive, tmp_path / "out")
    assert listing == [b"prog", b".argv"] and files[b".argv"][0] == b"/prog\0"


def test_same_inputs_give_the_same_bytes_whatever_the_file_times(tmp_path, inputs):
    program, data, _ = inputs
    first, second = tmp_path / "1.cpio", tmp_path / "2.cpio"
    assert mkfs("-o", str(first), "--program", str(program), "--file", str(data), "--", "x").returncode == 0
    os.utime(data, (1, 1))
    os.utime(program, (2, 2))
    assert mkfs("-o", str(second), "--program", str(program), "--file", str(data), "--", "x").returncode == 0
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("problem", ["duplicate", "reserved", "missing", "unwritable"])
def test_bad_input_is_refused_naming_the_file_and_leaves_no_archive(tmp_path, inputs, problem):
    program, data, _ = inputs
    out = tmp_path / "fs.cpio"
    extra = []
    if problem == "duplicate":
        (tmp_path / "sub").mkdir()
        twin = tmp_path / "sub" / "data.bin"
        twin.write_bytes(b"other")
        extra, expected = ["--file", str(data), "--file", str(twin)], "data.bin: two files"
    elif problem == "reserved":
        reserved = tmp_path / ".argv"
        reserved.write_bytes(b"x")
        extra, expected = ["--file", str(reserved)], ".argv: this name is reserved"
    elif problem == "missing":
        extra, expected = ["--file", str(tmp_path / "absent")], "absent: cannot read it"
    else:
        out = tmp_path / "no-such-dir" / "fs.cpio"
        expected = "fs.cpio: cannot write it"
    done = mkfs("-o", str(out), "--program", str(program), *extra)
    assert done.returncode == 2
    assert expected in done.stderr.decode() and done.stderr.decode().startswith("mkprogramfs: ")
    assert not out.exists() and not out.with_name(out.name + ".tmp").exists()


# A stand-in for qemu-run.sh: writes FAKE_* files' bytes to the ports run-program.sh named,
# records its arguments and the module, prints FAKE_HARNESS on stderr, exits FAKE_STATUS.
FAKE_QEMU_RUN = textwrap.dedent("""\
    #!/usr/bin/python3
    import os, shutil, sys
    args = sys.argv[1:]
    def value(option):
        return args[args.index(option) + 1]
    record = os.environ["FAKE_RECORD"]
    with open(record + ".args", "wb") as out:
        out.write(b"\\0".join(os.fsencode(a) for a in args))
    shutil.copy(value("--module"), record + ".cpio")
    for option, source in (("--serial-log", "FAKE_LOG"), ("--com2", "FAKE_STDOUT"),
                           ("--com3", "FAKE_STDERR")):
        with open(value(option), "wb") as port, open(os.environ[source], "rb") as data:
            port.write(data.read())
    sys.stderr.write(os.environ.get("FAKE_HARNESS", ""))
    sys.exit(int(os.environ["FAKE_STATUS"]))
    """)


@pytest.fixture
def harness(tmp_path, inputs):
    fake = tmp_path / "fake-qemu-run"
    fake.write_text(FAKE_QEMU_RUN)
    fake.chmod(0o755)
    program, _, _ = inputs

    def run(log, stdout=b"", stderr=b"", status=0, harness_says="", options=(), words=()):
        for name, data in (("log", log), ("stdout", stdout), ("stderr", stderr)):
            (tmp_path / f"fake.{name}").write_bytes(data)
        env = dict(os.environ, PAGESCOPE_QEMU_RUN=str(fake), FAKE_RECORD=str(tmp_path / "record"),
                   FAKE_LOG=str(tmp_path / "fake.log"), FAKE_STDOUT=str(tmp_path / "fake.stdout"),
                   FAKE_STDERR=str(tmp_path / "fake.stderr"), FAKE_STATUS=str(status),
                   FAKE_HARNESS=harness_says)
        done = subprocess.run([str(RUN_PROGRAM), "--elf", str(program), "--prog", str(program),
                               *options, "--", *words], env=env, capture_output=True)
        record = tmp_path / "record.args"
        args = record.read_bytes().split(b"\0") if record.exists() else []
        return done, args

    return run


def test_program_bytes_and_exit_status_pass_through(harness):
    out = bytes(range(256)) + b"\r\n\0end"
    done, args = harness(b"pagescope x\r\nprogram: exit status 42\r\npagescope: done\r\n",
                         stdout=out, stderr=b"err\r\n")
    assert (done.returncode, done.stdout, done.stderr) == (42, out, b"err\r\n")
    command_line = args[args.index(b"--args") + 1]
    assert command_line == b"scenario=program vmm=pagetable trace=off"
    assert b"--trace-out" not in args and b"--icount" not in args


def test_kill_reports_follow_the_program_stderr(harness):
    log = (b"program: pid 2 killed: write to read-only page at 0x1000 (rip 0x401000)\r\n"
           b"program: pid 1 killed: read of unreserved address 0x0\r\n"
           b"program: exit status 139\r\n")
    done, _ = harness(log, stdout=b"before\n", stderr=b"own\n")
    assert done.returncode == 139 and done.stdout == b"before\n"
    assert done.stderr == (b"own\nprogram: pid 2 killed: write to read-only page at 0x1000 "
                           b"(rip 0x401000)\nprogram: pid 1 killed: read of unreserved address 0x0\n")


def test_a_refused_program_keeps_the_kernel_status_and_says_why(harness):
    log = (b"scenario program: refused: cannot start /prog: not an ELF file\r\n"
           b"program: 0 processes\r\nstopping (exit status 6)\r\n")
    done, _ = harness(log, status=6, harness_says="pagescope: exit status 6 (a scenario refused its input)\n")
    assert done.returncode == 6 and done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert lines[:2] == ["scenario program: refused: cannot start /prog: not an ELF file",
                         "program: 0 processes"]
    assert lines[-1] == "pagescope: exit status 6 (a scenario refused its input)"


def test_a_kernel_that_did_not_run_the_program_is_126(harness):
    done, _ = harness(b"pagescope: done, exit status 0\r\n")
    assert done.returncode == 126
    assert b"run-program: the kernel exited 0 without a 'program: exit status N' line" in done.stderr


def test_options_reach_the_boot_and_arguments_reach_the_archive(harness, tmp_path):
    trace = tmp_path / "t.pstrace"
    words = [b"a b", b"\xff", b""]
    done, args = harness(b"program: exit status 0\n", options=(
        "--vmm", "list", "--mem", "64M", "--icount", "--trace-out", str(trace)), words=words)
    assert done.returncode == 0
    assert args[args.index(b"--args") + 1] == b"scenario=program vmm=list trace=on"
    assert args[args.index(b"--trace-out") + 1] == os.fsencode(trace)
    assert args[args.index(b"--mem") + 1] == b"64M" and b"--icount" in args
    files, _ = extract(tmp_path / "record.cpio", tmp_path / "extracted")
    assert files[b".argv"][0] == b"/prog\0a b\0\xff\0\0"


def test_pmm_option_reaches_the_kernel_command_line(harness):
    done, args = harness(b"program: exit status 0\n", options=("--pmm", "buddy"))
    assert done.returncode == 0
    assert args[args.index(b"--args") + 1] == b"scenario=program vmm=pagetable pmm=buddy trace=off"


@pytest.mark.parametrize("options, message", [
    ((), "--prog is required"),
    (("--prog", "/no/such/program"), "program not found"),
    (("--prog", "PROGRAM", "--vmm", "tree"), "--vmm is pagetable or list"),
    (("--prog", "PROGRAM", "--pmm", "buddy test"), "--pmm is an allocator name"),
])
def test_usage_errors_are_126_with_a_reason(inputs, options, message):
    program, _, _ = inputs
    options = [str(program) if o == "PROGRAM" else o for o in options]
    done = subprocess.run([str(RUN_PROGRAM), "--elf", str(program), *options], capture_output=True)
    assert done.returncode == 126 and message in done.stderr.decode()
