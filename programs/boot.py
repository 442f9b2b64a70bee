"""Several program runs in one pagescope boot: what `make test-programs` and `make report`
use instead of a boot per run (a QEMU start costs seconds under TCG; most test runs take far
less).

`boot_runs(elf, runs, vmm=..., ...)` packs every run (scripts/mkprogramfs.py, RunSpec: its
program, files, arguments, environment, stdin) into one module filesystem with a `.runs` list,
boots `scenario=program` once through scripts/qemu-run.sh, and takes the outputs apart: the kernel
runs them one after another and ends each with the log line `program: run NAME: exit status N,
stdout S bytes, stderr E bytes`, its stdout and stderr bytes following the previous run's on the
COM2 and COM3 streams (kernel/workload/scenario_program.c). The streams are cut at those counts;
their sum must be the stream's size exactly, or no run is trusted. A kill report (`program: pid P
killed ...`) belongs to the run whose status line comes next. A run with no status line (the
kernel refused it, or the boot ended first) gets status None and a `problem` saying why, with the
boot's status line and the kernel log's last lines.

Bounds: at most 128 runs per boot (the kernel's RUNS_MAX); every run's files share one root, so
two runs' files of the same name must hold the same bytes (mkprogramfs refuses otherwise).
"""

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import mkprogramfs  # noqa: E402  (the one writer of the module filesystem)
from mkprogramfs import Refused, RunSpec  # noqa: E402,F401  (re-exported for callers)

RUN_STATUS = re.compile(r"^program: run ([A-Za-z0-9._-]+): exit status (\d+), "
                        r"stdout (\d+) bytes, stderr (\d+) bytes$")
RUN_REFUSED = re.compile(r"^program: run ([A-Za-z0-9._-]+): refused: (.*)$")
KILL_REPORT = re.compile(r"^program: pid \d+ killed")
BOOT_STATUS = re.compile(r"^pagescope: exit status (\d+) .*$", re.M)
LOG_TAIL_LINES = 15


@dataclass
class RunOutcome:
    status: int = None        # as a shell reports it (128 + signal when killed); None: not run
    stdout: bytes = b""
    stderr: bytes = b""       # the program's own, without kill reports
    kill_reports: list = field(default_factory=list)  # the kernel's lines, without newlines
    problem: str = None       # why the run has no trustworthy outcome


@dataclass
class BootOutcome:
    status: int               # scripts/qemu-run.sh's (the kernel's exit status, or the harness's)
    runs: dict                # name -> RunOutcome, for every run given
    log: str                  # the kernel log, carriage returns dropped
    harness: str              # what qemu-run.sh printed


def boot_runs(elf, runs, vmm="pagetable", mem="128M", icount=False, trace_out=None,
              timeout=300, kernel_log=None, cpu="max", pmm=None):
    """Boots every RunSpec of `runs` (in order) in one pagescope boot; returns a BootOutcome.
    Raises mkprogramfs.Refused when the runs cannot make one filesystem."""
    entries = mkprogramfs.runs_filesystem(runs)
    with tempfile.TemporaryDirectory(prefix="pagescope-runs-") as work:
        work = Path(work)
        module = work / "programs.cpio"
        mkprogramfs.write_atomically(module, mkprogramfs.newc_archive(entries))
        log = Path(kernel_log) if kernel_log else work / "kernel.log"
        command = [str(REPO / "scripts" / "qemu-run.sh"), "--elf", str(elf), "--mem", mem,
                   "--cpu", cpu, "--timeout", str(timeout), "--module", str(module),
                   "--serial-log", str(log), "--com2", str(work / "stdout"),
                   "--com3", str(work / "stderr"),
                   "--args", f"scenario=program vmm={vmm} trace={'on' if trace_out else 'off'}"
                   + (f" pmm={pmm}" if pmm else "")]
        if trace_out:
            command += ["--trace-out", str(trace_out)]
        if icount:
            command.append("--icount")
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              check=False)
        text = log.read_text(errors="replace").replace("\r", "") if log.exists() else ""
        streams = [(work / s).read_bytes() if (work / s).exists() else b""
                   for s in ("stdout", "stderr")]
    harness = done.stdout.decode(errors="replace")
    return BootOutcome(done.returncode, split_runs([r.name for r in runs], text, *streams,
                                                   done.returncode, harness), text, harness)


def split_runs(names, log, stdout, stderr, status=0, harness=""):
    """{name: RunOutcome} from a boot's kernel log and its two program streams."""
    outcomes = {name: RunOutcome() for name in names}
    ended, kills = [], []
    for line in log.splitlines():
        if KILL_REPORT.match(line):
            kills.append(line)
        elif (m := RUN_STATUS.match(line)) and m.group(1) in outcomes:
            out = outcomes[m.group(1)]
            out.status, out.kill_reports, kills = int(m.group(2)), kills, []
            ended.append((out, int(m.group(3)), int(m.group(4))))
        elif (m := RUN_REFUSED.match(line)) and m.group(1) in outcomes:
            outcomes[m.group(1)].problem = f"the kernel refused the run: {m.group(2)}"
            kills = []
    counted_out, counted_err = sum(n for _, n, _ in ended), sum(n for *_, n in ended)
    all_ended = len(ended) == len(names)
    # Every run ended: the counts cover the streams exactly. Otherwise what follows the last
    # counted byte is the unfinished run's.
    if (counted_out, counted_err) != (len(stdout), len(stderr)) and (
            all_ended or counted_out > len(stdout) or counted_err > len(stderr)):
        problem = (f"the kernel counted {counted_out} stdout and {counted_err} stderr bytes over "
                   f"its runs, but the streams hold {len(stdout)} and {len(stderr)}: they cannot "
                   "be cut into runs")
        for out in outcomes.values():
            out.status, out.problem = None, out.problem or problem
        return outcomes
    at_out = at_err = 0
    for out, n_out, n_err in ended:
        out.stdout, out.stderr = stdout[at_out:at_out + n_out], stderr[at_err:at_err + n_err]
        at_out, at_err = at_out + n_out, at_err + n_err
    unfinished = next((out for name, out in outcomes.items()
                       if out.status is None and out.problem is None), None)
    if unfinished is not None:
        unfinished.stdout, unfinished.stderr = stdout[at_out:], stderr[at_err:]
        unfinished.kill_reports = kills
    said = BOOT_STATUS.findall(harness)
    boot = f"the boot ended with status {status}" + (f" ({harness.strip().splitlines()[-1]})"
                                                     if said else "")
    tail = "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
    for name, out in outcomes.items():
        if out.status is None and out.problem is None:
            out.problem = f"run {name} did not end: {boot}; the kernel log ends:\n{tail}"
    return outcomes
