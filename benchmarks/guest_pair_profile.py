"""Where one guest pmm pair's instructions go: every instruction of one step of a pmm row of
scenario=bench (one turn of its measured loop: the alloc, the free and the loop itself),
single-stepped under QEMU icount through QEMU's gdb stub, attributed to the innermost (inlined)
function and source line that holds it.

    benchmarks/guest_pair_profile.py [--trace off|on] [--pages N] [--layout best-as-booted|mixed-holes]
                                     [--step K] [--mem 4G] [--vmm list]
                                     [--by part|function|line|sequence]

How: the kernel boots `scenario=bench vmm=VMM trace=TRACE` as `make bench` boots it
(scripts/qemu-run.sh --icount), halted at its first instruction for gdb (QEMU's `-gdb`, a free
port, `-S`). gdb stops at `pmm_row` until its loop asks for N pages in the chosen layout, then at
the loop's call of the allocator (the one instruction in pmm_row that calls page_alloc_traced or
page_alloc_untraced, found in the ELF's disassembly) K times (the first is the warm step, later
ones are inside the measured loops), and single-steps from there until the loop is back at that
call. Each stepped address is named by `addr2line -f -i` against the same ELF.

What it proves and what it does not: the count is exact for that one step (icount makes every
run identical, tests/python/test_icount_determinism.py) and covers what the row's figure covers:
the tool boots the kernel once more without gdb (whose stops disturb the guest's clock) and
prints the row's figure beside the count; when every step of the row takes the same path they
are equal. A step in another row or with other arguments may take other branches: profile the
row you mean.

Prints the total, then one line per part (PARTS below: the harness's loop, the common layer, the
placement, and the tracer's chain, clock and records), or per function, or per source line, most
instructions first, or each run of consecutive instructions in one function (--by sequence).
Exit status 0, or 1 with the reason on stderr (kernel not built, QEMU or gdb failed, the row
never came).
"""

import argparse
import collections
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ELF = os.path.join(ROOT, "build", "pagescope.elf")
LAYOUTS = ("best-as-booted", "mixed-holes")  # the order in which scenario_bench.c runs them

# Runs inside gdb (-batch -x): finds the step, single-steps it, writes one address per line.
GDB_SCRIPT = r'''
import gdb
pages, row, step, out, site = {pages}, {row}, {step}, {out!r}, {site}
gdb.execute("set pagination off")
gdb.execute("hbreak pmm_row")
seen = 0
while True:
    gdb.execute("continue", to_string=True)
    if int(gdb.parse_and_eval("((struct bench_loop *)$rdi)->pages")) == pages:
        if seen == row:
            break
        seen += 1
gdb.execute("delete")
gdb.execute("hbreak *%d" % site)
for _ in range(step):
    gdb.execute("continue", to_string=True)
gdb.execute("delete")
with open(out, "w") as f:
    pc = site
    while True:
        f.write("%x\n" % pc)
        gdb.execute("stepi", to_string=True)
        pc = int(gdb.parse_and_eval("$pc"))
        if pc == site:
            break
    f.write("done\n")
gdb.execute("kill")
'''


# Parts of a pair, by the innermost function an instruction belongs to (first match wins).
PARTS = (
    ("tracing: call chain", ("trace_chain_",)),
    ("tracing: clock and cost", ("trace_clock_", "trace_cost_", "trace_now")),
    ("tracing: records", ("trace_",)),
    ("common layer (page_allocator.h)", ("page_alloc", "page_free")),
    ("placement (regions)", ("pmm_", "list_", "region_", "record_of", "carve_fit")),
    ("harness (scenario_bench.c: the measured loop)", ()),
)
HARNESS = ("pmm_pair", "pmm_row", "measure_steps")


def part_of(function):
    if function in HARNESS:  # before "pmm_": the loop and its step
        return PARTS[-1][0]
    for name, prefixes in PARTS:
        if function.startswith(prefixes):
            return name
    return "other: " + function


class ProfileError(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loop_call_site(trace):
    """The address of pmm_row's call of the allocator's traced or untraced copy."""
    callee = "page_alloc_traced" if trace == "on" else "page_alloc_untraced"
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", ELF], capture_output=True,
                          text=True, check=True).stdout
    sites, inside = [], False
    for line in text.splitlines():
        if line.endswith(">:"):
            inside = line.endswith("<pmm_row>:")
        elif inside and "call" in line and f"<{callee}" in line:
            sites.append(int(line.split(":")[0], 16))
    if len(sites) != 1:
        raise ProfileError(f"pmm_row calls {callee} from {len(sites)} places in {ELF}, not one: "
                           f"this tool steps from that call to the next")
    return sites[0]


def step_addresses(args, tmp):
    """Boots the kernel, single-steps one turn of the row's loop; returns its addresses in order."""
    out = os.path.join(tmp, "addresses.txt")
    script = os.path.join(tmp, "step.py")
    with open(script, "w") as f:
        f.write(GDB_SCRIPT.format(pages=args.pages, row=LAYOUTS.index(args.layout),
                                  step=args.step, out=out, site=loop_call_site(args.trace)))
    port = free_port()
    qemu = subprocess.Popen(
        [os.path.join(ROOT, "scripts", "qemu-run.sh"), "--elf", ELF, "--args",
         f"scenario=bench vmm={args.vmm} trace={args.trace}", "--mem", args.mem, "--icount",
         "--timeout", "0", "--serial-log", os.path.join(tmp, "serial.log"),
         "--trace-out", os.path.join(tmp, "trace.pstrace"), "--",
         "-gdb", f"tcp:127.0.0.1:{port}", "-S"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        gdb = subprocess.run(
            ["gdb", "-q", "-batch", "-ex", f"file {ELF}",
             "-ex", f"target remote 127.0.0.1:{port}", "-x", script],
            capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        raise ProfileError(f"gdb did not finish within {args.timeout} s (is the row in this "
                           f"guest? a request larger than half of memory is skipped)")
    finally:
        qemu.terminate()
        try:
            qemu.wait(timeout=30)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()
    try:
        lines = open(out).read().split()
    except OSError as e:
        raise ProfileError(f"reading {out}: {e}; gdb said:\n{gdb.stdout[-1500:]}{gdb.stderr[-1500:]}")
    if not lines or lines[-1] != "done":
        raise ProfileError(f"the loop did not come back to its call; gdb said:\n{gdb.stderr[-1500:]}")
    return [int(a, 16) for a in lines[:-1]]


def row_figure(args, tmp):
    """The row's own figure (instructions per step, as make bench prints it) from a boot without
    gdb (its stops disturb the guest's clock), stopped once the row is printed; None when the
    boot ended without it."""
    log = os.path.join(tmp, "figure.log")
    qemu = subprocess.Popen(
        [os.path.join(ROOT, "scripts", "qemu-run.sh"), "--elf", ELF, "--args",
         f"scenario=bench vmm={args.vmm} trace={args.trace}", "--mem", args.mem, "--icount",
         "--serial-log", log, "--trace-out", os.path.join(tmp, "figure.pstrace")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            ended = qemu.poll() is not None
            try:
                text = open(log, errors="replace").read()
            except FileNotFoundError:
                text = ""
            for line in text.splitlines():
                fields = line.split(": ", 1)[-1].split(",")
                if (line.startswith("bench-guest: pmm,") and len(fields) > 8
                        and fields[1] == args.layout and fields[3] == str(args.pages)):
                    return float(fields[8])
            if ended:
                return None
            time.sleep(0.5)
        raise ProfileError(f"the row's figure did not come within {args.timeout} s")
    finally:
        if qemu.poll() is None:
            qemu.terminate()
            qemu.wait()


def frames_of(addresses):
    """{address: innermost (function, file:line)} from addr2line's inline-expanded answer."""
    unique = sorted(set(addresses))
    text = subprocess.run(["addr2line", "-e", ELF, "-f", "-i", "-a"] + ["%x" % a for a in unique],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    names, current, i = {}, None, 0
    while i < len(text):
        if text[i].startswith("0x"):
            current = int(text[i], 16)
            i += 1
            continue
        if current not in names:  # the first frame listed is the innermost
            where = text[i + 1].split(" ")[0]
            names[current] = (text[i], os.path.relpath(where, ROOT) if where.startswith("/") else where)
        i += 2
    return names


def report(addresses, names, by):
    lines = [f"{len(addresses)} instructions in one step"]
    if by == "sequence":
        run, count = None, 0
        for a in addresses + [None]:
            key = names[a][0] if a is not None else None
            if key != run and run is not None:
                lines.append(f"{count:6d}  {run}")
                count = 0
            run = key
            count += 1
        return lines
    key = {"part": lambda a: part_of(names[a][0]), "function": lambda a: names[a][0],
           "line": lambda a: f"{names[a][0]}  {names[a][1]}"}[by]
    counts = collections.Counter(key(a) for a in addresses)
    lines += [f"{n:6d}  {key}" for key, n in counts.most_common()]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trace", choices=("off", "on"), default="on")
    parser.add_argument("--pages", type=int, default=1)
    parser.add_argument("--layout", choices=LAYOUTS, default="mixed-holes")
    parser.add_argument("--step", type=int, default=100,
                        help="which step of the row (1 = the warm step)")
    parser.add_argument("--mem", default="4G")
    parser.add_argument("--vmm", default="list")
    parser.add_argument("--by", choices=("part", "function", "line", "sequence"), default="part")
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    if not os.path.exists(ELF):
        print(f"guest_pair_profile: {ELF} not found (run make kernel first)", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="pagescope-profile-") as tmp:
            addresses = step_addresses(args, tmp)
            figure = row_figure(args, tmp)
        names = frames_of(addresses)
    except (ProfileError, OSError, subprocess.CalledProcessError) as e:
        print(f"guest_pair_profile: {e}", file=sys.stderr)
        return 1
    print(f"scenario=bench vmm={args.vmm} trace={args.trace} --mem {args.mem}: {args.layout}, "
          f"{args.pages} pages, step {args.step}")
    print("\n".join(report(addresses, names, args.by)))
    if figure is None:
        print("the row's figure: not printed (the boot ended first)")
    else:
        print(f"the row's figure (instructions per step, as make bench): {figure:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
