"""python3 -m programs.pagescope --elf KERNEL --out DIR [--dir BUILD_PROGRAMS] [--backend B]...
[--pmm ALLOCATOR] [RUN...]: runs each real program of programs/runs.txt inside pagescope, as
`make report` does, under both VMM backends (`vmm=pagetable`, `vmm=list`; --backend picks some)
and the kernel's physical allocator (or the pmm= one --pmm names: `make report-pmm` boots them
under each): every chosen run in one boot per backend (programs/boot.py: one
QEMU start instead of one per run), the two boots at the same time, under QEMU icount with
tracing on, each run with the program and its input files in the module filesystem, its argv, an
empty environment, no stdin.

It writes DIR/runs-BACKEND.pstrace (the boot's trace: run NAME is its phase "program:NAME",
which `analyzer report --program NAME=TRACE` and `analyzer programs` take apart),
DIR/runs-BACKEND.log (the kernel's log: its `pmm-cost:` line is what the boot's page allocator
calls cost, `analyzer allocators --program-log`) and per run
DIR/NAME-BACKEND.stdout and .stderr (DIR is written whole under a temporary name and renamed; an
existing DIR is replaced only when pagescope wrote it, as analyzer report's output), and checks
that every run wrote exactly the bytes it writes on the host (build/programs/expected/, recorded
by `make programs`) and exited with the host's status. It prints one line per run and backend and
exits 0 only when every run matched; 1 when a program's output or status differs (the first
differing byte is named) or the boot did not run it to its end, 2 for bad usage or a missing
cache (run `make programs` first).
"""

import argparse
import hashlib
from concurrent.futures import ThreadPoolExecutor
import os
import sys
from pathlib import Path

from analyzer.definitions.output import OutputError, OutputRefused, atomic_directory
from programs.boot import RunSpec, boot_runs
from programs.expected import ExpectedError, load_selected
from programs.runs import DEFAULT_DIR, Layout, RunsError

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("pagetable", "list")
MEMORY = "256M"
TIMEOUT = 300  # seconds without progress (scripts/qemu-run.sh --timeout)


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def trace_path(out, backend):
    return out / f"runs-{backend}.pstrace"


def boot(elf, layout, runs, backend, out, pmm=None):
    """One boot of every run under `backend` (and the pmm= allocator `pmm`, else the kernel's);
    {run name: RunOutcome}, the trace and the kernel's log left in out."""
    specs = [RunSpec(run.name, str(layout.binary(run)),
                     files=tuple(str(layout.inputs / name) for name in run.inputs),
                     args=tuple(os.fsencode(word) for word in run.argv[1:]), env=())
             for run in runs]
    booted = boot_runs(elf, specs, vmm=backend, mem=MEMORY, icount=True,
                       trace_out=trace_path(out, backend), timeout=TIMEOUT,
                       kernel_log=out / f"runs-{backend}.log", pmm=pmm)
    for name, outcome in booted.runs.items():
        (out / f"{name}-{backend}.stdout").write_bytes(outcome.stdout)
        # the program's stderr, then the kernel's kill reports, as scripts/run-program.sh prints
        (out / f"{name}-{backend}.stderr").write_bytes(
            outcome.stderr + b"".join(line.encode() + b"\n" for line in outcome.kill_reports))
    return booted.runs


def main(argv):
    parser = argparse.ArgumentParser(prog="python3 -m programs.pagescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elf", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--backend", action="append", choices=BACKENDS,
                        help="a VMM backend to boot under (repeatable; default: both)")
    parser.add_argument("--pmm", metavar="ALLOCATOR",
                        help="the pmm= allocator to boot with (default: the kernel's; make "
                             "report-pmm boots the programs under each)")
    parser.add_argument("runs", nargs="*", metavar="RUN")
    args = parser.parse_args(argv)
    layout = Layout(args.dir.resolve())
    try:
        chosen, manifest = load_selected(layout, args.runs)
    except (RunsError, ExpectedError) as error:
        print(f"programs.pagescope: {error} (run `make programs` first)", file=sys.stderr)
        return 2
    missing = [r.name for r in chosen if r.name not in manifest or not layout.binary(r).exists()]
    if missing:
        print(f"programs.pagescope: no built program or expected output for {', '.join(missing)}"
              f" in {layout.root}: run `make programs` first", file=sys.stderr)
        return 2
    try:
        with atomic_directory(args.out) as out:
            failed = boot_all(args.elf, layout, chosen, manifest, out,
                              tuple(args.backend or BACKENDS), args.pmm)
    except (OutputRefused, OutputError) as error:
        print(f"programs.pagescope: {error}", file=sys.stderr)
        return 2
    return 1 if failed else 0


def boot_all(elf, layout, chosen, manifest, out, backends=BACKENDS, pmm=None):
    """Boots every run under each backend into `out`; the number of runs that differed."""
    failed = 0
    # The two boots at once: each QEMU (TCG) keeps one host core busy, and they share nothing
    # but the read-only inputs (each writes its own trace and output files).
    with ThreadPoolExecutor(max_workers=len(backends)) as pool:
        booting = {backend: pool.submit(boot, elf, layout, chosen, backend, out, pmm)
                   for backend in backends}
        outcomes = {backend: future.result() for backend, future in booting.items()}
    for run in chosen:
        expected = manifest[run.name]
        for backend in backends:
            where = f"vmm={backend}" + (f" pmm={pmm}" if pmm else "")
            outcome = outcomes[backend][run.name]
            status, stdout, stderr = outcome.status, outcome.stdout, outcome.stderr
            if outcome.problem:
                failed += 1
                print(f"programs: {run.name} {where}: NOT RUN to its end: {outcome.problem}")
                continue
            digest = hashlib.sha256(stdout).hexdigest()
            if status == expected.status and digest == expected.sha256:
                print(f"programs: {run.name} {where}: the host's output "
                      f"({len(stdout):,} bytes, sha256 {digest[:12]}) and exit status {status}")
                continue
            failed += 1
            host = (layout.expected / f"{run.name}.stdout").read_bytes()
            at = first_difference(host, stdout)
            print(f"programs: {run.name} {where}: DIFFERS from the host: exit status "
                  f"{status} (host {expected.status}), {len(stdout):,} bytes (host {len(host):,}), "
                  f"first difference at byte {at}; its stderr ends: "
                  f"{stderr.decode(errors='replace')[-400:]!r}")
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
