"""python3 -m programs.pagescope --elf KERNEL --out DIR [--dir BUILD_PROGRAMS] [--backend B]...
[--pmm ALLOCATOR] [RUN...]: runs each real program of programs/runs.txt inside pagescope, as
`make report` does, under both VMM backends (`vmm=pagetable`, `vmm=list`; --backend picks some),
under the kernel's default physical allocator or the one --pmm names (`make report-pmm` runs them
under each), each boot under QEMU icount with tracing on, through
scripts/run-program.sh (what `make run-program` runs): the program and its input files in the
module filesystem, its argv, an empty environment, no stdin.

For every run and backend it writes DIR/NAME-BACKEND.pstrace (the trace), .stdout, .stderr and
.log (the kernel's log, whose `pmm-cost:` line says what the page allocator's calls cost)
(DIR is written whole under a temporary name and renamed; an existing DIR is replaced only when
pagescope wrote it, as analyzer report's output), and
checks that the program wrote exactly the bytes it writes on the host (build/programs/expected/,
recorded by `make programs`) and exited with the host's status. It prints one line per boot and
exits 0 only when every boot matched; 1 when a program's output or status differs (the first
differing byte is named), 2 for bad usage or a missing cache (run `make programs` first).
"""

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

from analyzer.output import OutputError, OutputRefused, atomic_directory
from programs.expected import ExpectedError, load_selected
from programs.runs import DEFAULT_DIR, Layout, RunsError

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("pagetable", "list")
MEMORY = "256M"


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def boot(elf, layout, run, backend, out, pmm=None):
    """One boot of one run; returns (status, stdout bytes) and leaves the trace in out."""
    trace = out / f"{run.name}-{backend}.pstrace"
    cmd = [str(REPO / "scripts" / "run-program.sh"), "--elf", str(elf),
           "--prog", str(layout.binary(run)), "--vmm", backend, "--mem", MEMORY, "--icount",
           "--trace-out", str(trace), "--kernel-log", str(out / f"{run.name}-{backend}.log")]
    if pmm:
        cmd += ["--pmm", pmm]
    for name in run.inputs:
        cmd += ["--file", str(layout.inputs / name)]
    # argv[0] is the binary's base name in the module filesystem; the rest as the run gives it.
    cmd += ["--"] + list(run.argv[1:])
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    (out / f"{run.name}-{backend}.stdout").write_bytes(result.stdout)
    (out / f"{run.name}-{backend}.stderr").write_bytes(result.stderr)
    return result.returncode, result.stdout, result.stderr


def main(argv):
    parser = argparse.ArgumentParser(prog="python3 -m programs.pagescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elf", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--backend", action="append", choices=BACKENDS,
                        help="a VMM backend to boot under (repeatable; default: both)")
    parser.add_argument("--pmm", metavar="ALLOCATOR",
                        help="the pmm= allocator to boot with (default: the kernel's)")
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
    """Boots every run under each backend into `out`; the number of boots that differed."""
    failed = 0
    for run in chosen:
        expected = manifest[run.name]
        for backend in backends:
            status, stdout, stderr = boot(elf, layout, run, backend, out, pmm)
            digest = hashlib.sha256(stdout).hexdigest()
            where = f"vmm={backend}" + (f" pmm={pmm}" if pmm else "")
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
