"""python3 -m programs.syscalls [DIR] [OUT]: runs every run of programs/runs.txt natively under
`strace -f -C` (a full trace plus the -c summary) and writes OUT (default programs/SYSCALLS.md):
per run, each syscall's calls and errors as strace counted them, whether it is in the subset the
kernel plans to serve, and for the calls outside it the first such call as strace printed it.

It then asks what -ENOSYS for those calls would do, with strace's fault injection on the host
(`-e inject=CALLS:error=ENOSYS`): the run with every outside call failing, and when its output
then differs from the host's expected output, each outside call failing alone (the calls the run
cannot do without), then every outside call but those. This approximates a kernel that returns
-ENOSYS; it cannot show what differs there for other reasons (files absent from its filesystem).

DIR (default build/programs) holds bin/, inputs/ and expected/ (`make programs`). Exit status 0
on success, 1 when a run could not be traced (the message names it), 2 for bad usage."""

import hashlib
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from programs.expected import ExpectedError, read_manifest
from programs.inputs import InputError, write_if_changed
from programs.native import NativeRunError, run_natively
from programs.runs import DEFAULT_DIR, REPO, Layout, RunsError, load_runs

# The Linux syscalls issue 18 plans for user mode (as the lead listed them); every other call
# gets -ENOSYS. The kernel's own syscall table is the authority once it exists.
PLANNED_SUBSET = frozenset("""
brk mmap munmap mprotect mremap madvise read write writev open openat lseek fstat close exit
exit_group arch_prctl set_tid_address clock_gettime getpid uname getrandom fork vfork clone execve
wait4""".split())

# strace -c's table: "% time seconds usecs/call calls [errors] syscall"
SUMMARY_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+)?\s*([a-z_0-9]+)\s*$")
# a trace line: "PID name(arguments) = result", possibly "<unfinished ...>"
TRACE_LINE = re.compile(r"^(?:\d+\s+)?([a-z_0-9]+)\((.*)$")


class TraceError(Exception):
    """A run whose strace output could not be read; the message names the run and file."""


@dataclass(frozen=True)
class SyscallCount:
    name: str
    calls: int
    errors: int


def parse_strace(text, source):
    """Returns ([SyscallCount] from the -c summary in strace's order, {name: first trace line})."""
    counts, first_call = [], {}
    in_summary = False
    for line in text.splitlines():
        if line.startswith("% time"):
            in_summary = True
            continue
        if in_summary:
            match = SUMMARY_ROW.match(line)
            if match and match.group(3) != "total":
                counts.append(SyscallCount(match.group(3), int(match.group(1)),
                                           int(match.group(2) or 0)))
            continue
        match = TRACE_LINE.match(line)
        if match and match.group(1) not in first_call:
            first_call[match.group(1)] = line.split(None, 1)[1] if line[0].isdigit() else line
    if not counts:
        raise TraceError(f"{source}: no strace -c summary found")
    return counts, first_call


def trace_run(layout, run, strace):
    with tempfile.TemporaryDirectory(prefix="pagescope-strace-") as scratch:
        log = Path(scratch) / "strace.log"
        # sysinfo's structure (uptime, free memory) would change the table on every run
        outcome = run_natively(layout, run, wrapper=(strace, "-f", "-C", "-e", "verbose=!sysinfo",
                                                     "-o", str(log)))
        if outcome.status != 0:
            raise TraceError(f"run '{run.name}' exited with status {outcome.status} under strace: "
                             f"{outcome.stderr.decode(errors='replace')[-500:]}")
        return parse_strace(log.read_text(errors="replace"), f"strace of run '{run.name}'")


def matches_expected(outcome, expected):
    return (hashlib.sha256(outcome.stdout).hexdigest() == expected.sha256
            and outcome.status == expected.status)


def describe(outcome):
    message = outcome.stderr.decode(errors="replace").strip().splitlines()
    return f"exit status {outcome.status}" + (f", stderr '{message[-1]}'" if message else "")


@dataclass(frozen=True)
class EnosysFinding:
    all_failing: str            # what the run does when every outside call fails with ENOSYS
    required: tuple             # outside calls whose failure alone changes the output
    without_required: str       # the run with every outside call but `required` failing


def enosys_finding(layout, run, outside, expected, strace):
    """Runs `run` with outside calls failing with ENOSYS (strace fault injection)."""
    def injected(names):
        if not names:
            return run_natively(layout, run)
        return run_natively(layout, run, wrapper=(strace, "-f", "-qq", "-o", "/dev/null", "-e",
                                                  f"inject={','.join(names)}:error=ENOSYS"))
    if not outside:
        return EnosysFinding("nothing to fail: every call is in the subset", (), "")
    everything = injected(outside)
    if matches_expected(everything, expected):
        return EnosysFinding("same output and exit status", (), "")
    required = tuple(name for name in outside if not matches_expected(injected([name]), expected))
    rest = [name for name in outside if name not in required]
    if not required:
        verdict = "no single call changes the output; only their combination does"
    else:
        rest_outcome = injected(rest)
        verdict = ("same output and exit status" if matches_expected(rest_outcome, expected)
                   else f"still differs: {describe(rest_outcome)}")
    return EnosysFinding(f"differs: {describe(everything)}", required, verdict)


# addresses (stack, heap, handlers) differ from run to run and say nothing about the call
ADDRESS = re.compile(r"0x[0-9a-f]{5,}")


def shorten(call, limit=110):
    call = ADDRESS.sub("0x…", call)
    return call if len(call) <= limit else call[:limit - 3] + "..."


def markdown_cell(text):
    return text.replace("|", "\\|").replace("`", "'")


def render(runs, traced, findings, strace_version):
    lines = ["# Syscalls of the real programs", "",
             "Generated by `make programs-syscalls` (`python3 -m programs.syscalls`): every run of",
             "`programs/runs.txt` traced natively with `strace -f -C` (counts are strace's `-c` summary",
             f"of one run, all processes together) on this host: Linux {platform.release()}, "
             f"{strace_version}.",
             "Stdout is a pipe, stdin is /dev/null, the environment is empty, as in every run.",
             "\"In subset\" means in the syscalls issue 18 plans for user mode "
             "(`PLANNED_SUBSET` in `programs/syscalls.py`); the others get -ENOSYS there.", "",
             "## Calls outside the planned subset", "",
             "| syscall | runs that make it | first call seen |", "|---|---|---|"]
    outside = {}
    for run in runs:
        counts, first_call = traced[run.name]
        for count in counts:
            if count.name not in PLANNED_SUBSET:
                outside.setdefault(count.name, []).append((run.name, first_call.get(count.name, "")))
    for name in sorted(outside):
        users = outside[name]
        example = next((call for _, call in users if call), "")
        lines.append(f"| {name} | {', '.join(user for user, _ in users)} | "
                     f"`{markdown_cell(shorten(example))}` |")
    lines += ["", "## What -ENOSYS for the calls outside the subset does", "",
              "Each run on the host with strace failing calls with ENOSYS "
              "(`-e inject=CALLS:error=ENOSYS`), its stdout and exit status",
              "compared with the expected ones (`build/programs/expected/`). \"Needs\" lists the "
              "outside calls whose failure alone",
              "changes the output; the last column is the run with every other outside call failing.",
              "", "| run | every outside call fails | needs | only the others fail |",
              "|---|---|---|---|"]
    for run in runs:
        finding = findings[run.name]
        lines.append(f"| {run.name} | {markdown_cell(finding.all_failing)} | "
                     f"{', '.join(finding.required) or '-'} | "
                     f"{markdown_cell(finding.without_required) or '-'} |")
    for run in runs:
        counts, first_call = traced[run.name]
        command = shlex.join(run.argv)
        lines += ["", f"## {run.name}: `{markdown_cell(command)}`", "",
                  "| syscall | calls | errors | in subset | first call outside the subset |",
                  "|---|---:|---:|---|---|"]
        for count in sorted(counts, key=lambda c: (-c.calls, c.name)):
            inside = count.name in PLANNED_SUBSET
            example = "" if inside else f"`{markdown_cell(shorten(first_call.get(count.name, '')))}`"
            lines.append(f"| {count.name} | {count.calls} | {count.errors} | "
                         f"{'yes' if inside else '**no**'} | {example} |")
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 2 or any(arg.startswith("-") for arg in argv):
        print(__doc__, file=sys.stderr)
        return 2
    layout = Layout((Path(argv[0]) if argv else DEFAULT_DIR).resolve())
    out = Path(argv[1]) if len(argv) > 1 else REPO / "programs" / "SYSCALLS.md"
    strace = shutil.which("strace")
    if strace is None:
        print("programs.syscalls: strace is not installed (scripts/install-deps.sh programs)",
              file=sys.stderr)
        return 1
    version = subprocess.run([strace, "-V"], capture_output=True, text=True,
                             check=False).stdout.splitlines()[0].replace(" -- version ", " ").strip()
    try:
        runs = load_runs()
        expected = read_manifest(layout)
        missing = [run.name for run in runs if run.name not in expected]
        if missing:
            raise TraceError(f"{layout.expected}/MANIFEST: no expected output for "
                             f"{', '.join(missing)} (run `make programs`)")
        traced, findings = {}, {}
        for run in runs:
            traced[run.name] = trace_run(layout, run, strace)
            outside = sorted(count.name for count in traced[run.name][0]
                             if count.name not in PLANNED_SUBSET)
            findings[run.name] = enosys_finding(layout, run, outside, expected[run.name], strace)
            print(f"programs.syscalls: {run.name}: {len(traced[run.name][0])} distinct syscalls, "
                  f"{len(outside)} outside the subset; with ENOSYS for them: "
                  f"{findings[run.name].all_failing}")
        # the host's paths to this tree say nothing about the programs: name the tree relatively
        text = render(runs, traced, findings, version).replace(str(layout.root), "build/programs")
        write_if_changed(out, text.encode())
    except (RunsError, NativeRunError, TraceError, InputError, ExpectedError) as error:
        print(f"programs.syscalls: FAILED: {error}", file=sys.stderr)
        return 1
    print(f"programs.syscalls: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
