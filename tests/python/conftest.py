"""Shared fixtures: building the host encoder programs the format tests run."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRACE_SOURCES = ["kernel/trace/tracer.c", "kernel/trace/tracepoints.c", "kernel/trace/call_chain.c",
                 "kernel/trace/stream_header.c", "kernel/lib/string.c"]


def analyzer_on_bytes(tmp_path, command, data):
    """(status, stdout, stderr) of `python3 -m analyzer COMMAND` run in-process on a trace made of
    `data` (written to tmp_path/t.pstrace; perfetto writes tmp_path/out)."""
    import contextlib
    import io

    from analyzer.__main__ import main
    path = tmp_path / "t.pstrace"
    path.write_bytes(data)
    argv = [command, str(path)] + (["-o", str(tmp_path / "out")] if command == "perfetto" else [])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def require_qemu():
    """Fails the test when QEMU is missing: a boot test that cannot boot has not passed."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required (make deps installs it)")


@pytest.fixture(scope="session")
def build_encoder(tmp_path_factory):
    """Returns build(config_text) -> path of an encode_events binary built with that config
    (a C header defining FAKE_CLOCK_START, FAKE_CLOCK_STEP, HEADER_INFO and EVENT_CALLS)."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required to build the trace encoder")

    def build(config_text, name):
        work = tmp_path_factory.mktemp(name)
        config = work / "config.h"
        config.write_text(config_text)
        binary = work / "encode_events"
        cmd = ["gcc", "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-DPAGESCOPE_HOST",
               "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
               f"-I{REPO}", f"-I{work}", "-include", str(config),
               str(FIXTURES / "encode_events.c"), *[str(REPO / s) for s in TRACE_SOURCES],
               "-o", str(binary)]
        subprocess.run(cmd, check=True, cwd=work)
        return binary

    return build


@pytest.fixture(scope="session")
def small_trace(build_encoder, tmp_path_factory):
    """A valid, consistent trace of a few dozen records (string events and split snapshots
    among them) that passes `analyzer check`."""
    work = tmp_path_factory.mktemp("small")
    calls = work / "calls.inc"
    # zones end at 1 MiB and 2 MiB: the trace, not the analyzer, says where
    snapshot = ["trace_emit_pmm_snapshot_begin(t, 300, 1ULL << 20, 2ULL << 20);",
                *[f"trace_emit_pmm_snapshot_add(t, {i} * 0x2000ULL, 1);" for i in range(300)],
                "trace_array_end(t, TRACE_ID_pmm_snapshot);"]
    statements = [f"trace_emit_pmm_alloc(t, {i} * 0x1000ULL, 1 + {i}, 1 + {i}, 0, 0, 4, 0, 0);" for i in range(20)]
    statements += ['trace_emit_phase_begin(t, "churn");', *snapshot,
                   *[f"trace_emit_kmalloc(t, 0xffff800040000000ULL + {i} * 64, 50, 64, 0, 0);"
                     for i in range(10)],
                   *[f"trace_emit_kfree(t, 0xffff800040000000ULL + {i} * 64, 64, 0);"
                     for i in range(10)],
                   *snapshot, 'trace_emit_phase_end(t, "churn");']
    calls.write_text("\n".join(statements) + "\n")
    config = ("#define FAKE_CLOCK_START 0\n#define FAKE_CLOCK_STEP 1000\n"
              "#define HEADER_INFO { .clock = 1, .clock_hz = 1000000000ULL, .memory_bytes = 1 << 29,"
              " .cmdline = \"test\", .build_id = \"small\" }\n"
              f"#define EVENT_CALLS \"{calls}\"\n")
    binary = build_encoder(config, "small-encoder")
    out = work / "small.trace"
    subprocess.run([str(binary), str(out)], check=True)
    return out.read_bytes()


@pytest.fixture(scope="session")
def kernel_traces(tmp_path_factory):
    """{backend: path} of real traces: the kernel's vmm tests booted under QEMU icount once per
    VMM backend (a few seconds each; the same requests in both, deterministic timestamps)."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required to make a real trace")
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    work = tmp_path_factory.mktemp("kernel-traces")
    traces = {}
    for backend in ("pagetable", "list"):
        out = work / f"{backend}.pstrace"
        subprocess.run([str(REPO / "scripts" / "qemu-run.sh"), "--elf",
                        str(REPO / "build" / "pagescope.elf"), "--args",
                        f"trace=on vmm={backend} test=vmm", "--trace-out", str(out), "--icount",
                        "--timeout", "180", "--serial-log", str(work / f"{backend}.log")],
                       cwd=REPO, check=True)
        traces[backend] = out
    return traces


@pytest.fixture(scope="session")
def kernel_trace(tmp_path_factory):
    """Returns capture(args) -> the bytes of the trace a real boot of the kernel (built here, so
    never a stale one) streams with command line `args`; each command line is booted once. The
    clock counts instructions (QEMU -icount), so a given kernel gives the same trace every time."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required to capture a kernel-made trace")
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    captured = {}

    def capture(args):
        if args not in captured:
            work = tmp_path_factory.mktemp("boot")
            trace, log = work / "boot.pstrace", work / "serial.log"
            status = subprocess.run(
                [str(REPO / "scripts" / "qemu-run.sh"),
                 "--elf", str(REPO / "build" / "pagescope.elf"),
                 "--args", args, "--serial-log", str(log), "--trace-out", str(trace),
                 "--icount", "--timeout", "180"], cwd=REPO).returncode
            assert status == 0, log.read_text(errors="replace")
            captured[args] = trace.read_bytes()
        return captured[args]

    return capture


@pytest.fixture(scope="session")
def encode_trace(build_encoder, tmp_path_factory):
    """Returns encode(statements, backend=0, cmdline="test") -> bytes of a trace the kernel's own
    encoders write for those emit statements (C, using `t`), with that header's vmm backend and
    command line, a fake clock of 1000 ticks per record at 1 GHz."""
    built = {}

    def encode(statements, backend=0, cmdline="test"):
        key = ("\n".join(statements), backend, cmdline)
        if key not in built:
            work = tmp_path_factory.mktemp("encoded")
            calls = work / "calls.inc"
            calls.write_text(key[0] + "\n")
            config = ("#define FAKE_CLOCK_START 0\n#define FAKE_CLOCK_STEP 1000\n"
                      "#define HEADER_INFO { .clock = 1, .clock_hz = 1000000000ULL, "
                      f".vmm_backend = {backend}, .memory_bytes = 1 << 29, "
                      f".cmdline = \"{cmdline}\", .build_id = \"encoded\" }}\n"
                      f"#define EVENT_CALLS \"{calls}\"\n")
            binary = build_encoder(config, "encoder")
            out = work / "encoded.pstrace"
            subprocess.run([str(binary), str(out)], check=True)
            built[key] = out.read_bytes()
        return built[key]

    return encode


@pytest.fixture(scope="session")
def replay_trace(tmp_path_factory):
    """Returns capture(workload, args, mem) -> the bytes of the trace of a real boot replaying
    benchmarks/workloads/<workload>.psw, or the workload file at a Path (`scenario=replay` plus
    `args`), booted once each."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is required to capture a kernel-made trace")
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    captured = {}

    def capture(workload, args="vmm=list", mem="512M"):
        key = (workload, args, mem)
        if key not in captured:
            work = tmp_path_factory.mktemp("replay")
            trace, log = work / "replay.pstrace", work / "serial.log"
            status = subprocess.run(
                [str(REPO / "scripts" / "qemu-run.sh"), "--elf", str(REPO / "build" / "pagescope.elf"),
                 "--args", f"trace=on scenario=replay {args}", "--mem", mem,
                 "--module", str(workload if isinstance(workload, Path) else
                                 REPO / "benchmarks" / "workloads" / f"{workload}.psw"),
                 "--serial-log", str(log), "--trace-out", str(trace), "--icount",
                 "--timeout", "180"], cwd=REPO).returncode
            assert status == 0, log.read_text(errors="replace")
            captured[key] = trace.read_bytes()
        return captured[key]

    return capture
