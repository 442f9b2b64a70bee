#!/usr/bin/python3
"""make bench: runs every benchmark, writes one CSV per benchmark and the plots into OUT
(results/bench), and the bench section of results/README.md.

    benchmarks/run_bench.py [--quick] [--out DIR] [--readme FILE] [--command TEXT]

Host figures: instructions are the primary figure, counted by running each measured loop under
`valgrind --tool=callgrind --instr-atstart=no` at two loop lengths and differencing the two
counts (perf_event_open is not allowed on this VM); wall clock (median, min, max of repeats) is
measured by the same program run natively. Each CSV says which method produced which column.

Targets: each is judged on this run's rows; for each one not met, the row furthest from it is
profiled from the very callgrind dumps its figure came from (callgrind_split.py): its instructions
split by source file and by function, summing to the figure. No figure in this file is typed by
hand; the fixed sentences (MECHANISMS, the guest notes) carry none.
"""

import argparse
import collections
import csv
import datetime
import glob
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import callgrind_split  # noqa: E402  (benchmarks/ is not a package)
BENCH_BIN = os.path.join(ROOT, "build", "bench")
ALLOCATORS = ["pagescope", "tlsf", "buddy", "first-fit"]
# bench_vmm_layouts' rows: vmm.c with each backend, the list backend alone, the vmem-design peer.
VMM_BACKENDS = ["pagetable", "list", "list-backend", "vmem-peer"]
VMEM_PEER = "vmem-peer"
LIST_TO_PEER_LIMIT = 1.5  # issue 22: the list backend within 1.5x of the vmem peer
PAGETABLE_TO_LIST_LIMIT = 2  # issue 22: the page-table backend within 2x of the list backend
BEST_CASE_LAYOUTS = {"best-empty", "best-2page-holes", "best-contiguous"}
MARK_BEGIN, MARK_END = "<!-- bench:begin -->", "<!-- bench:end -->"


class BenchError(Exception):
    pass


def progress(index, total, name, detail):
    print(f"[bench {index}/{total}] {name}: {detail}", flush=True)


def build_bench(*names):
    """Brings build/bench/NAME up to date: a figure labelled with this commit must come from a
    program built from it (make bench depends on them; the -only modes call this)."""
    run(["make", "--no-print-directory"] + [os.path.join("build", "bench", n) for n in names])


def run(argv, **kwargs):
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def parse_csv(text):
    return list(csv.DictReader(text.splitlines()))


def callgrind_counts(program, args, keep):
    """Runs program under callgrind; returns (stdout rows, {dump label: instructions}, {dump
    label: dump path}). The dumps are written into a new directory under keep, which must outlive
    the profiles taken from them (callgrind_split)."""
    out = os.path.join(tempfile.mkdtemp(prefix="cg-", dir=keep), "cg.out")
    rows = parse_csv(run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                          f"--callgrind-out-file={out}", program, "--mode", "count"] + args))
    counts, paths = {}, {}
    for path in glob.glob(out + ".*"):
        label = total = None
        with open(path) as f:
            for line in f:
                if line.startswith("desc: Trigger: Client Request: "):
                    label = line.split(": ", 2)[2].split("Client Request: ", 1)[-1].strip()
                elif line.startswith("totals:") or line.startswith("summary:"):
                    total = int(line.split()[1])
        if label is not None and total is not None:
            counts[label] = total
            paths[label] = path
    return rows, counts, paths


def row_dumps(paths, key, short, long, program, args):
    """The Dumps a row's figure came from (key: its dump label without the step count)."""
    try:
        return callgrind_split.Dumps(paths[f"{key}|{long}"], paths[f"{key}|{short}"],
                                     f"{key}|{long}", f"{key}|{short}", long - short,
                                     [os.path.relpath(program, ROOT), "--mode", "count"] + args)
    except KeyError as missing:
        raise BenchError(f"callgrind dump {missing} missing") from None


def per_step(counts, key, short, long):
    """Instructions per step: (I(long) - I(short)) / (long - short); set-up costs cancel."""
    try:
        return (counts[f"{key}|{long}"] - counts[f"{key}|{short}"]) / (long - short)
    except KeyError as missing:
        raise BenchError(f"callgrind dump {missing} missing") from None


def write_csv(path, fields, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in fields})


# ---- benchmarks ----------------------------------------------------------------------------------

CONTIGUOUS_FIELDS = [
    "layout", "best_case", "size_pages", "align_pages", "allocator", "free_extents",
    "instructions_per_pair", "instructions_method", "wall_ns_median", "wall_ns_min",
    "wall_ns_max", "wall_repeats", "held_pages", "wasted_pages", "failed_allocs",
    "setup_failed_allocs"]


def contiguous_counts(program, extra, keep):
    """bench_contiguous under callgrind: its rows, each with instructions_per_pair, its method
    and `dumps`, the two callgrind dumps (kept in keep) the figure came from."""
    count_rows, counts, paths = callgrind_counts(program, extra, keep)
    for r in count_rows:
        short, long = int(r["short_steps"]), int(r["long_steps"])
        key = "|".join((r["layout"], r["size_pages"], r["allocator"]))
        r["instructions_per_pair"] = "%.1f" % per_step(counts, key, short, long)
        r["instructions_method"] = f"callgrind Ir, (I({long})-I({short}))/{long - short} steps"
        r["dumps"] = row_dumps(paths, key, short, long, program, extra)
    return count_rows


def bench_contiguous(quick, keep):
    program = os.path.join(BENCH_BIN, "bench_contiguous")
    extra = ["--quick"] if quick else []
    count_rows = contiguous_counts(program, extra, keep)
    time_rows = parse_csv(run([program, "--mode", "time"] + extra))
    key = lambda r: (r["layout"], r["size_pages"], r["allocator"])
    timed = {key(r): r for r in time_rows}
    rows = []
    for r in count_rows:
        t = timed[key(r)]
        rows.append(dict(
            layout=r["layout"], best_case="yes" if r["layout"] in BEST_CASE_LAYOUTS else "no",
            size_pages=r["size_pages"], align_pages=r["align_pages"], allocator=r["allocator"],
            free_extents=r["free_extents"],
            instructions_per_pair=r["instructions_per_pair"],
            instructions_method=r["instructions_method"],
            wall_ns_median=t["wall_ns_median"], wall_ns_min=t["wall_ns_min"],
            wall_ns_max=t["wall_ns_max"], wall_repeats=t["repeats"],
            held_pages=r["held_pages"], wasted_pages=r["wasted_pages"],
            failed_allocs=int(r["failed_allocs"]) + int(t["failed_allocs"]),
            setup_failed_allocs=r["setup_failed_allocs"], dumps=r["dumps"]))
    return rows


VMM_FIELDS = [
    "layout", "best_case", "operation", "size_pages", "align_pages", "mapped_pages", "backend",
    "instructions_per_step",
    "instructions_method", "wall_ns_median", "wall_ns_min", "wall_ns_max", "wall_repeats",
    "work_per_step_entries", "bookkeeping_bytes", "first_addr"]


def bench_vmm(quick, keep):
    """bench_vmm_layouts' rows; each keeps `dumps`, the two callgrind dumps (in keep) its
    instructions_per_step came from."""
    program = os.path.join(BENCH_BIN, "bench_vmm_layouts")
    extra = ["--quick"] if quick else []
    count_rows, counts, paths = callgrind_counts(program, extra, keep)
    time_rows = parse_csv(run([program, "--mode", "time"] + extra))
    key = lambda r: (r["layout"], r["operation"], r["size_pages"], r["align_pages"],
                     r["mapped_pages"], r["backend"])
    timed = {key(r): r for r in time_rows}
    rows, placed = [], {}
    for r in count_rows:
        short, long = int(r["short_steps"]), int(r["long_steps"])
        t = timed[key(r)]
        where = key(r)[:5]
        # The VMM rows share one placement policy; the vmem peer places by instant fit.
        if r["backend"] != VMEM_PEER and placed.setdefault(where, r["first_addr"]) != r["first_addr"]:
            raise BenchError(f"backends placed {where} at {placed[where]} and {r['first_addr']}")
        rows.append(dict(
            layout=r["layout"], best_case="yes" if r["layout"] in BEST_CASE_LAYOUTS else "no",
            operation=r["operation"], size_pages=r["size_pages"], align_pages=r["align_pages"],
            mapped_pages=r["mapped_pages"], backend=r["backend"],
            instructions_per_step="%.1f" % per_step(counts, "|".join(key(r)), short, long),
            instructions_method=f"callgrind Ir, (I({long})-I({short}))/{long - short} steps",
            wall_ns_median=t["wall_ns_median"], wall_ns_min=t["wall_ns_min"],
            wall_ns_max=t["wall_ns_max"], wall_repeats=t["repeats"],
            work_per_step_entries=r["work_per_step_entries"],
            bookkeeping_bytes=r["bookkeeping_bytes"], first_addr="0x" + r["first_addr"],
            dumps=row_dumps(paths, "|".join(key(r)), short, long, program, extra)))
    return rows


ANALYZER_FIELDS = ["command", "trace", "trace_bytes", "events", "wall_s_median", "wall_s_min",
                   "wall_s_max", "repeats", "events_per_s", "method", "exit_status", "verdict"]


def bench_analyzer(quick, trace):
    """events/s of `analyzer info`, `check` and `perfetto` on the trace of the guest benchmark
    (vmm=pagetable, trace=on): every allocation of its set-up and loops, hundreds of thousands
    of events."""
    info = run([sys.executable, "-m", "analyzer", "info", trace])
    events = int(re.search(r"^records\s+(\d+)", info, re.M).group(1))
    rows = []
    pftrace = os.path.join(os.path.dirname(trace), "throughput.pftrace")
    for command, extra in (("info", []), ("check", []), ("perfetto", ["-o", pftrace])):
        samples = []
        for _ in range(1 if quick else 3):
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "analyzer", command] + extra + [trace],
                                  cwd=ROOT, capture_output=True, text=True)
            samples.append(time.perf_counter() - t0)
            # The benchmark's trace passes check (tests/python/test_bench_trace.py): any other
            # status, a verdict against it (3) included, is a failure of the benchmark.
            if done.returncode != 0:
                raise BenchError(f"analyzer {command} failed ({done.returncode}): {done.stderr[-1000:]}")
        verdict = "ok" if done.returncode == 0 else \
            done.stderr.strip().splitlines()[-1].replace(trace, "<trace>")
        rows.append(dict(
            command=" ".join(["python3 -m analyzer", command] + extra[:1]),
            trace="guest benchmark, vmm=pagetable trace=on",
            trace_bytes=os.path.getsize(trace), events=events,
            wall_s_median="%.3f" % statistics.median(samples), wall_s_min="%.3f" % min(samples),
            wall_s_max="%.3f" % max(samples), repeats=len(samples),
            events_per_s="%.0f" % (events / statistics.median(samples)),
            method="wall clock of the whole command (interpreter start included)",
            exit_status=done.returncode, verdict=verdict))
    return rows


GUEST_PMM_FIELDS = ["layout", "best_case", "size_pages", "align_pages", "free_extents", "vmm",
                    "trace", "instructions_per_pair", "events_per_pair", "failed_allocs",
                    "guest_mem"]
GUEST_VMM_FIELDS = ["operation", "mapped_pages", "vmm", "trace", "instructions_per_step",
                    "events_per_step", "failed", "guest_mem"]
GUEST_TRACING_FIELDS = ["workload", "vmm", "instructions_trace_off", "instructions_trace_on",
                        "events_per_step", "instructions_per_event", "guest_mem"]
GUEST_METHOD = ("guest instructions under QEMU -icount shift=0,sleep=off: "
                "(TSC after 192 steps - TSC after 64 steps) / 128, the trace ring drained before")


WALLCLOCK_FIELDS = ["workload", "records", "bytes", "kb_per_s", "ticks_per_record",
                    "events_per_s", "method"]


def guest_transport_wallclock(tmp):
    """The trace transport's throughput without icount (device time is free under icount):
    scenario=trace-throughput, wall clock of the guest TSC, so it varies from run to run."""
    log = os.path.join(tmp, "serial-throughput.log")
    status = subprocess.run(
        [os.path.join(ROOT, "scripts", "qemu-run.sh"), "--elf", os.path.join(ROOT, "build", "pagescope.elf"),
         "--args", "scenario=trace-throughput trace=on", "--timeout", "300", "--serial-log", log,
         "--trace-out", os.path.join(tmp, "throughput.pstrace")],
        cwd=ROOT, capture_output=True, text=True).returncode
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    m = re.search(r"trace-throughput: (\d+) records, (\d+) bytes sent, \d+ lost, \d+ ticks = "
                  r"(\d+) KB/s of guest time \((\d+) ticks per record\)", text)
    if status != 0 or not m:
        raise BenchError(f"scenario=trace-throughput exited {status} without its figure:\n{text[-1500:]}")
    records, nbytes, kbs, ticks = (int(x) for x in m.groups())
    return [dict(workload="scenario=trace-throughput trace=on (4 MiB of records)", records=records,
                 bytes=nbytes, kb_per_s=kbs, ticks_per_record=ticks,
                 events_per_s="%.0f" % (kbs * 1000 / (nbytes / records)),
                 method="wall clock: guest TSC without icount (varies between runs)")]


def guest_boot(mem, vmm, trace, tmp):
    """One boot of scenario=bench; returns its bench-guest rows, split by table."""
    log = os.path.join(tmp, f"serial-{vmm}-{trace}.log")
    status = subprocess.run(
        [os.path.join(ROOT, "scripts", "qemu-run.sh"), "--elf", os.path.join(ROOT, "build", "pagescope.elf"),
         "--args", f"scenario=bench vmm={vmm} trace={trace}", "--mem", mem, "--icount",
         "--timeout", "600", "--serial-log", log, "--trace-out", os.path.join(tmp, f"{vmm}-{trace}.pstrace")],
        cwd=ROOT, capture_output=True, text=True).returncode
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    if status != 0:
        raise BenchError(f"scenario=bench vmm={vmm} trace={trace} exited {status}:\n{text[-2000:]}")
    tables = {"pmm": [], "vmm": []}
    for line in text.splitlines():
        if line.startswith("bench-guest: pmm,") or line.startswith("bench-guest: vmm,"):
            table, *fields = line.split(": ", 1)[1].split(",")
            tables[table].append(fields)
    return tables


def bench_guest(quick, mem, keep_trace, wallclock_too):
    """scenario=bench inside the kernel, per vmm= backend, with trace=off and trace=on (--quick:
    trace=on for the pagetable backend only); the trace of the pagetable trace=on boot is kept as
    keep_trace (the analyzer's input)."""
    mem = mem or ("128M" if quick else "4G")
    run(["make", "--no-print-directory", "kernel"])
    pmm, vmm, tracing = [], [], []
    with tempfile.TemporaryDirectory(prefix="pagescope-guest-") as tmp:
        for backend in ("pagetable", "list"):
            by_trace = {}
            for trace in ("off", "on") if backend == "pagetable" or not quick else ("off",):
                tables = by_trace[trace] = guest_boot(mem, backend, trace, tmp)
                if backend == "pagetable" and trace == "on" and keep_trace:
                    os.makedirs(os.path.dirname(keep_trace), exist_ok=True)
                    shutil.move(os.path.join(tmp, "pagetable-on.pstrace"), keep_trace)
                for f in tables["pmm"]:
                    pmm.append(dict(zip(GUEST_PMM_FIELDS, f + [mem])))
                for f in tables["vmm"]:
                    vmm.append(dict(zip(GUEST_VMM_FIELDS, f + [mem])))
            for table, width in (("pmm", 4), ("vmm", 2)) if "on" in by_trace else ():
                for off, on in zip(by_trace["off"][table], by_trace["on"][table]):
                    if off[:width] != on[:width]:
                        raise BenchError(f"trace=on and trace=off runs differ in shape: {off} / {on}")
                    i_off, i_on = float(off[-3]), float(on[-3])
                    events = float(on[-2])
                    name = f"{table} " + " ".join(off[:1] + off[2:4] if table == "pmm" else off[:2])
                    tracing.append(dict(
                        workload=name, vmm=backend, instructions_trace_off=off[-3],
                        instructions_trace_on=on[-3], events_per_step=on[-2],
                        instructions_per_event="%.1f" % ((i_on - i_off) / events) if events else "",
                        guest_mem=mem))
        wallclock = guest_transport_wallclock(tmp) if wallclock_too else []
    return pmm, vmm, tracing, wallclock


# ---- plots ---------------------------------------------------------------------------------------

def plots(out, contiguous, vmm, guest):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "pagescope"  # stable element ids: a rerun diffs only in data

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"{name}.png"), dpi=110)
        fig.savefig(os.path.join(out, f"{name}.svg"), metadata={"Date": None})
        plt.close(fig)

    layouts = list(dict.fromkeys(r["layout"] for r in contiguous))
    sizes = sorted({int(r["size_pages"]) for r in contiguous})
    fig, axes = plt.subplots(1, len(layouts), figsize=(4.2 * len(layouts), 4), squeeze=False)
    for ax, layout in zip(axes[0], layouts):
        for alloc in ALLOCATORS:
            pts = sorted((int(r["size_pages"]), float(r["instructions_per_pair"]))
                         for r in contiguous if r["layout"] == layout and r["allocator"] == alloc)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=alloc)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(layout + (" (best case)" if layout in BEST_CASE_LAYOUTS else ""))
        ax.set_xlabel("request size (pages)")
        ax.set_ylabel("instructions per alloc+free")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend()
    save(fig, "contiguous_vs_size")

    fig, axes = plt.subplots(1, len(sizes), figsize=(3.2 * len(sizes), 4), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        for alloc in ALLOCATORS:
            ys = [next((float(r["instructions_per_pair"]) for r in contiguous
                        if r["layout"] == l and r["allocator"] == alloc
                        and int(r["size_pages"]) == size), float("nan")) for l in layouts]
            ax.plot(range(len(layouts)), ys, marker="o", label=alloc)
        ax.set_xticks(range(len(layouts)))
        ax.set_xticklabels(layouts, rotation=40, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(f"{size} pages")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("instructions per alloc+free")
    axes[0][0].legend(fontsize=8)
    save(fig, "contiguous_vs_layout")

    operations = list(dict.fromkeys((r["operation"], r["size_pages"], r["align_pages"]) for r in vmm))
    fig, axes = plt.subplots(1, len(operations), figsize=(4.5 * len(operations), 4), squeeze=False)
    for ax, (op, size, align) in zip(axes[0], operations):
        for backend in VMM_BACKENDS:
            for layout, style in (("best-contiguous", "--"), ("mixed-holes", "-")):
                pts = sorted((int(r["mapped_pages"]), float(r["instructions_per_step"]))
                             for r in vmm if r["operation"] == op and r["backend"] == backend
                             and r["layout"] == layout and r["size_pages"] == size
                             and r["align_pages"] == align)
                if not pts:
                    continue
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o",
                        label=f"{backend}, {layout}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{op}, {size} pages" + (f" at {align}" if align != "1" else ""))
        ax.set_xlabel("mapped pages")
        ax.set_ylabel("instructions per step")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    save(fig, "vmm_backends")

    if not guest:
        return
    gpmm, gvmm, tracing, _ = guest
    pm = [r for r in tracing if r["workload"].startswith("pmm mixed-holes") and r["vmm"] == "pagetable"]
    vm = [r for r in tracing if r["workload"].startswith("vmm") and r["vmm"] == "pagetable"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, rows, title in ((axes[0], pm, "pmm alloc+free, mixed holes (guest; pages/align)"),
                            (axes[1], vm, "VMM steps (guest, vmm=pagetable)")):
        labels = [r["workload"].split(" ", 1)[1].replace("mixed-holes ", "").replace(" ", "/")
                  for r in rows]
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], [float(r["instructions_trace_off"]) for r in rows], 0.4,
               label="trace=off")
        ax.bar([i + 0.2 for i in x], [float(r["instructions_trace_on"]) for r in rows], 0.4,
               label="trace=on")
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("guest instructions per step")
        ax.set_title(title)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0].legend()
    save(fig, "tracing_overhead")

    fig, ax = plt.subplots(figsize=(6, 4))
    for backend in ("pagetable", "list"):
        for op, style in (("reserve-release", "-"), ("reserve-map-unmap-release", "--")):
            pts = sorted((int(r["mapped_pages"]), float(r["instructions_per_step"])) for r in gvmm
                         if r["vmm"] == backend and r["operation"] == op and r["trace"] == "off")
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", label=f"{backend}, {op}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mapped pages")
    ax.set_ylabel("guest instructions per step (trace=off)")
    ax.set_title("VMM backends inside the kernel")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "guest_vmm_backends")


# ---- results/README.md ---------------------------------------------------------------------------

def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    return f"{model}, {os.cpu_count()} cores, {mem_kib / 1048576:.1f} GiB memory, {platform.system()} {platform.release()}"


def commit():
    try:
        return run(["git", "describe", "--always", "--dirty"]).strip()
    except BenchError:
        return "unknown"


def fmt(x):
    return f"{float(x):,.0f}"


def pick(rows, **match):
    for r in rows:
        if all(str(r[k]) == str(v) for k, v in match.items()):
            return r
    return None


def contiguous_table(rows, layout):
    sizes = sorted({int(r["size_pages"]) for r in rows if r["layout"] == layout})
    lines = ["| pages (align) | " + " | ".join(ALLOCATORS) + " | buddy wastes |",
             "|---|" + "---:|" * (len(ALLOCATORS) + 1)]
    for size in sizes:
        cells = []
        for alloc in ALLOCATORS:
            r = pick(rows, layout=layout, allocator=alloc, size_pages=size)
            fail = f", {r['failed_allocs']} failed" if int(r["failed_allocs"]) else ""
            cells.append(f"{fmt(r['instructions_per_pair'])} ({float(r['wall_ns_median']):.0f} ns{fail})")
        b = pick(rows, layout=layout, allocator="buddy", size_pages=size)
        align = pick(rows, layout=layout, allocator="pagescope", size_pages=size)["align_pages"]
        lines.append(f"| {size:,} ({align}) | " + " | ".join(cells) + f" | {b['wasted_pages']} |")
    return lines


def published(rows):
    """The peers beside the figures their designs are known by."""
    def instr(layout, alloc, size):
        return float(pick(rows, layout=layout, allocator=alloc, size_pages=size)["instructions_per_pair"])
    churn = "churn" if pick(rows, layout="churn") else None
    lines = ["", "Peers beside their published figures: Linux's page_bench measures about 231 "
             "cycles per order-0 alloc+free (per-CPU lists, zone lock); this buddy's order-0 pair "
             f"costs {instr('best-empty', 'buddy', 1):,.0f} instructions from an empty zone "
             "(split from order 18 and merged back each time)"]
    if churn:
        lines[-1] += f" and {instr('churn', 'buddy', 1):,.0f} amid churn"
    lines[-1] += (". The TLSF paper reports about 170 instructions per operation; this TLSF "
                  f"takes {instr('best-empty', 'tlsf', 37) / 2:,.0f} per operation (half a pair) "
                  "from an empty heap")
    if churn:
        lines[-1] += f", {instr('churn', 'tlsf', 37) / 2:,.0f} amid churn (37 pages)"
    lines[-1] += "."
    return lines


# ---- targets and why a miss is missed -----------------------------------------------------------

# A judged target. worst: the row furthest from the target, whose instructions a miss profiles
# (None where the figure is not a callgrind count); beside: (what, row) it was compared with, or
# None; mechanism: a fixed sentence naming what the profile shows, with no figure in it (figures
# come from the run only).
Target = collections.namedtuple("Target", "name measured verdict mechanism worst beside")

GUEST_PMM_NO_PROFILE = (
    "No profile in this run: guest instructions are counted by QEMU -icount, which cannot say "
    "which function spent them (this QEMU has no TCG plugins), and single-stepping a row takes "
    "minutes. `benchmarks/guest_pair_profile.py --trace on --pages N --layout L --by part` "
    "profiles one pair of a row: it single-steps the row's loop through QEMU's gdb stub under "
    "icount and names the function and part (harness, common layer, placement, call chain, clock, "
    "records) of every instruction, and its count equals the row's figure; `benchmarks/README.md` "
    "has its table for every row. The pmm code the guest runs is built for the host "
    "too, without its tracing: `valgrind --tool=callgrind --instr-atstart=no "
    "--callgrind-out-file=cg.out build/bench/bench_contiguous --mode count --layout mixed-holes "
    "--allocators pagescope`, then `callgrind_annotate --inclusive=no` of the dump of the row and "
    "loop length wanted (its `desc: Trigger` line names them) profiles it; what tracing adds is "
    "trace=on minus trace=off in `guest-tracing.csv`.")
GUEST_EVENT_NO_PROFILE = (
    "No profile in this run: guest instructions are counted by QEMU -icount, which cannot say "
    "which function spent them (this QEMU has no TCG plugins), and no host benchmark runs the "
    "tracer with tracing on. `guest-tracing.csv` has each workload's instructions with tracing off "
    "and on and its events per step, whose difference and quotient this figure is; for a pmm pair, "
    "`benchmarks/guest_pair_profile.py --trace on --by part` splits what tracing adds into the "
    "call chain, the clock and the records.")
MECHANISMS = {
    "tlsf": "pagescope is the common layer (owners, events, bad-free checks) over the regions "
            "placement; the TLSF peer is a placement alone.",
    "buddy": "this buddy peer is arrays indexed by page number, with no size-class index to keep.",
    "wasted": "A count of pages, not of instructions: no profile applies.",
    "first-fit": "where the small holes can hold the request, first fit stops within a few "
                 "records, while the pmm keeps its size-class index on every pair.",
    "few-extents": "Missed because this run's mixed-holes layout holds fewer free extents than "
                   "the target names (a reduced set), not on instructions: no profile applies.",
    "vmem": "lowest-address first fit keeps runs in address order (vmm.c's one policy); the vmem "
            "peer's instant fit takes any run of a large enough power-of-two class.",
    "pagetable": "the page-table backend keeps its summaries in the spare bits of page-table "
                 "entries, read and written a few bits at a time.",
    "list": "the whole vmm.c step: its policy and checks, then the list backend's calls.",
}


def figure(row):
    """A host row's callgrind figure: instructions per pair (pmm) or per step (VMM)."""
    return float(row.get("instructions_per_pair") or row["instructions_per_step"])


def row_name(row):
    if "allocator" in row:
        return (f"{row['allocator']}, {row['layout']}, {int(row['size_pages']):,} pages @ "
                f"{row['align_pages']}")
    return (f"{row['backend']}, {row['layout']}, {row['operation']} {row['size_pages']} @ "
            f"{row['align_pages']}, {int(row['mapped_pages']):,} mapped pages")


def ratio_target(vmm, top, mine, theirs, limit, what):
    """[Target]: backend `mine` within `limit`× backend `theirs` on every reserve+release row at
    `top` mapped pages (the same layout, operation, size and alignment); [] when there are no
    such rows."""
    ratios = []
    for r in vmm:
        if r["backend"] == mine and int(r["mapped_pages"]) == top and r["operation"] != "reserve-map-unmap-release":
            other = pick(vmm, backend=theirs, layout=r["layout"], operation=r["operation"],
                         size_pages=r["size_pages"], align_pages=r["align_pages"], mapped_pages=r["mapped_pages"])
            ratios.append((float(r["instructions_per_step"]) / float(other["instructions_per_step"]), r, other))
    if not ratios:
        return []
    worst_ratio, worst_row, worst_other = max(ratios, key=lambda x: x[0])
    return [Target(f"{what} ≤ {limit:g}× {'the ' + theirs if theirs == 'list' else 'the vmem peer'} at {top:,} pages, every layout and size",
                   f"worst {worst_ratio:.2f}× ({worst_row['layout']}, {worst_row['size_pages']} @ {worst_row['align_pages']}); "
                   f"best {min(x[0] for x in ratios):.2f}×",
                   "met" if worst_ratio <= limit else "not met",
                   MECHANISMS["vmem" if theirs == VMEM_PEER else "pagetable"], worst_row,
                   (theirs, worst_other))]


def vmm_targets(vmm):
    """The VMM targets: list backend vs the vmem peer, page tables vs the list, and each backend
    flat at its limit."""
    top = max(int(r["mapped_pages"]) for r in vmm)
    out = ratio_target(vmm, top, "list-backend", VMEM_PEER, LIST_TO_PEER_LIMIT, "VMM list backend reserve+release")
    out += ratio_target(vmm, top, "pagetable", "list", PAGETABLE_TO_LIST_LIMIT, "VMM pagetable reserve+release")
    for backend, limit in (("list", 1500), ("pagetable", 3000)):
        rs = [r for r in vmm if r["backend"] == backend and r["operation"] == "reserve-release"
              and r["size_pages"] == "16"]
        at_max = [r for r in rs if int(r["mapped_pages"]) == max(int(x["mapped_pages"]) for x in rs)]
        worst = max(at_max, key=lambda r: float(r["instructions_per_step"]))
        small = pick(rs, layout=worst["layout"], mapped_pages=min(int(x["mapped_pages"]) for x in rs))
        growth = float(worst["instructions_per_step"]) / float(small["instructions_per_step"])
        out.append(Target(f"VMM {backend} reserve+release at {int(worst['mapped_pages']):,} mapped pages ≤ {limit:,} instructions, flat",
                          f"worst {fmt(worst['instructions_per_step'])} ({worst['layout']}); ×{growth:.1f} from {int(small['mapped_pages']):,} mapped",
                          "met" if float(worst["instructions_per_step"]) <= limit else "not met",
                          MECHANISMS[backend], worst, None))
    return out


def pmm_tlsf_target(contiguous):
    """Target: pagescope at or below TLSF on every row; the worst row is the highest ratio."""
    pm = [r for r in contiguous if r["allocator"] == "pagescope"]
    pairs = [(r, pick(contiguous, layout=r["layout"], size_pages=r["size_pages"], allocator="tlsf"))
             for r in pm]
    over = [r for r, t in pairs if figure(r) > figure(t)]
    worst, peer = max(pairs, key=lambda p: figure(p[0]) / figure(p[1]))
    return Target("pmm alloc+free ≤ TLSF's instructions, every size and layout",
                  f"{len(pm) - len(over)}/{len(pm)} cases; worst pagescope / tlsf "
                  f"{figure(worst) / figure(peer):.2f}× ({worst['layout']}, {worst['size_pages']} pages)",
                  "met" if not over else "not met", MECHANISMS["tlsf"], worst, ("tlsf", peer))


def first_fit_target(contiguous):
    """[Target]: pagescope at least 10x ahead of first fit amid mixed holes (sizes above one
    page) at about 100,000 free extents; [] without such rows. A run with fewer extents (the
    reduced set) misses it on its layout, so its miss has no instruction profile."""
    ratios = []
    for r in contiguous:
        if r["allocator"] == "pagescope" and r["layout"] == "mixed-holes" and int(r["size_pages"]) > 1:
            f = pick(contiguous, layout="mixed-holes", size_pages=r["size_pages"], allocator="first-fit")
            ratios.append((figure(f) / figure(r), r, f))
    if not ratios:
        return []
    low, worst, peer = min(ratios, key=lambda x: x[0])
    extents = int(worst["free_extents"])
    on_instructions = low < 10 or extents >= 90000
    return [Target("≥10× ahead of first fit at 100,000 mixed-size extents (sizes > 1 page)",
                   f"smallest ratio {low:,.1f}× ({worst['size_pages']} pages, {extents:,} extents); "
                   + ", ".join(f"{r['size_pages']}: {x:,.1f}×" for x, r, _ in ratios),
                   "met" if low >= 10 and extents >= 90000 else "not met",
                   MECHANISMS["first-fit" if on_instructions else "few-extents"],
                   worst if on_instructions else None, ("first-fit", peer))]


def targets(contiguous, vmm, guest):
    """Each target of the issue: measured, met or not (a Target each)."""
    out = [pmm_tlsf_target(contiguous)]
    pm = [r for r in contiguous if r["allocator"] == "pagescope"]
    buddy = [(r, pick(contiguous, layout=r["layout"], size_pages=r["size_pages"], allocator="buddy"))
             for r in pm]
    worse_buddy = [r for r, b in buddy if figure(r) * 4 > figure(b)]
    # the profiled row: the furthest where buddy served the requests (its refusals of more than
    # its largest order cost it little and say nothing of the pmm), unless it refused them all
    served = [p for p in buddy if not int(p[1].get("failed_allocs") or 0)] or buddy
    worst, peer = max(served, key=lambda p: figure(p[0]) / figure(p[1]))
    out.append(Target("pmm ≥4× fewer instructions than buddy, every size and layout",
                      f"{len(pm) - len(worse_buddy)}/{len(pm)} cases", "met" if not worse_buddy else "not met",
                      MECHANISMS["buddy"], worst, ("buddy", peer)))
    wasted = sum(int(r["wasted_pages"]) for r in pm)
    out.append(Target("pmm wastes no pages", f"{wasted} pages wasted in all cases",
                      "met" if wasted == 0 else "not met", MECHANISMS["wasted"], None, None))
    out += first_fit_target(contiguous)
    out += vmm_targets(vmm)
    if guest:
        gpmm, _, tracing, _ = guest
        on = [r for r in gpmm if r["trace"] == "on"]
        worst = max(on, key=lambda r: float(r["instructions_per_pair"]))
        best = min(on, key=lambda r: float(r["instructions_per_pair"]))
        out.append(Target("≤400 guest instructions per pmm pair with tracing on",
                          f"{fmt(best['instructions_per_pair'])} .. {fmt(worst['instructions_per_pair'])} "
                          f"(worst: {worst['layout']}, {worst['size_pages']} pages, vmm={worst['vmm']})",
                          "met" if float(worst["instructions_per_pair"]) <= 400 else "not met",
                          GUEST_PMM_NO_PROFILE, None, None))
        per_event = [(float(r["instructions_per_event"]), r) for r in tracing if r["instructions_per_event"]]
        top = max(per_event, key=lambda x: x[0])
        low = min(per_event, key=lambda x: x[0])
        out.append(Target("≤50 guest instructions per trace event (device included)",
                          f"{low[0]:.1f} .. {top[0]:.1f} (worst: {top[1]['workload']}, vmm={top[1]['vmm']})",
                          "met" if top[0] <= 50 else "not met", GUEST_EVENT_NO_PROFILE, None, None))
    return out


PROFILE_ENTRIES = 8  # the largest entries a miss profile's table lists before "other"


def split_table(split, total, what):
    """A split as a markdown table: its PROFILE_ENTRIES largest entries, "other", the total."""
    lines = [f"| instructions | share | {what} |", "|---:|---:|---|"]
    for key, n in callgrind_split.top(split, PROFILE_ENTRIES):
        if key == callgrind_split.OTHER:
            name = f"other ({len(split) - PROFILE_ENTRIES} entries)"
        else:
            name = " in ".join(f"`{part}`" for part in key)
        lines.append(f"| {n:,.1f} | {n / total:.0%} | {name} |")
    lines.append(f"| **{total:,.1f}** | 100% | **the row's figure** |")
    return lines


def miss_profile(target, revision, profiled):
    """Markdown: why `target` (not met) is missed. With a callgrind row: that row's figure split
    by source file and by function, from the two dumps the figure came from (callgrind_split),
    each the largest entries and "other", summing to the figure; the commit and the commands.
    Otherwise the target's fixed sentence. profiled: {dumps label: target name} of the rows
    already shown, so a row two targets share is shown once."""
    lines = ["", f"#### {target.name}", "", target.mechanism if target.worst is None
             else f"What it shows: {target.mechanism}"]
    if target.worst is None:
        return lines
    dumps = target.worst["dumps"]
    per = "pair" if "allocator" in target.worst else "step"
    beside = ""
    if target.beside:
        refused = int(target.beside[1].get("failed_allocs") or 0)
        beside = (f" ({target.beside[0]}, the same row: {figure(target.beside[1]):,.1f}"
                  + (f"; it refused {refused:,} allocations" if refused else "") + ")")
    if dumps.long_label in profiled:
        return lines + ["", f"The row furthest from the target: {row_name(target.worst)}, "
                        f"{figure(target.worst):,.1f} instructions per {per}{beside}; its profile "
                        f"is under \"{profiled[dumps.long_label]}\" above."]
    profiled[dumps.long_label] = target.name
    try:
        split, total = callgrind_split.per_step(dumps, ROOT)
    except callgrind_split.SplitError as e:
        raise BenchError(str(e)) from None
    if abs(total - figure(target.worst)) > 0.05:  # the row's figure was printed to a tenth
        raise BenchError(f"the profile of {row_name(target.worst)} sums to {total:,.2f}, its "
                         f"figure is {figure(target.worst):,.1f}: not the same dumps")
    by_file = {}
    for (source, _), n in split.items():
        by_file[(source,)] = by_file.get((source,), 0) + n
    lines += ["", f"The row furthest from the target: {row_name(target.worst)}, "
              f"{total:,.1f} instructions per {per}{beside}. From commit `{revision}`: "
              f"`valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=cg.out "
              f"{' '.join(dumps.command)}`, then `{' '.join(callgrind_split.ANNOTATE)}` of the "
              f"dumps `{dumps.long_label}` and `{dumps.short_label}`: each entry's self cost in "
              f"the first minus the second, divided by {dumps.steps} {per}s. Inlined code counts "
              "in the file it is written in, under the function it was inlined into.", ""]
    lines += split_table(by_file, total, "source file") + [""]
    lines += split_table(split, total, "source file in function")
    return lines


def miss_lines(judged, revision):
    """Markdown after a targets table: a miss profile for each target not met (none for a met
    one)."""
    missed = [t for t in judged if t.verdict != "met"]
    if not missed:
        return []
    lines = ["", "### why each missed target is missed (profiles of this run)", "",
             "Each instruction figure below comes from this run's own callgrind dumps; the fixed "
             "sentence says what the entries are, not how many."]
    profiled = {}
    for t in missed:
        lines += miss_profile(t, revision, profiled)
    return lines


def guest_section(guest):
    gpmm, gvmm, tracing, wallclock = guest
    mem = gpmm[0]["guest_mem"] if gpmm else "?"
    lines = ["", f"### inside the kernel (QEMU -icount, guest instructions, {mem} guest, deterministic)", "",
             "pmm alloc+free per pair, trace=off / trace=on (events per pair):", "",
             "| pages (align) | layout | vmm=pagetable | vmm=list |", "|---|---|---:|---:|"]
    for r in gpmm:
        if r["vmm"] != "pagetable" or r["trace"] != "off":
            continue
        cells = []
        for backend in ("pagetable", "list"):
            off = pick(gpmm, layout=r["layout"], size_pages=r["size_pages"], vmm=backend, trace="off")
            on = pick(gpmm, layout=r["layout"], size_pages=r["size_pages"], vmm=backend, trace="on")
            cells.append(f"{fmt(off['instructions_per_pair'])} / "
                         + (f"{fmt(on['instructions_per_pair'])} ({on['events_per_pair']})" if on else "-"))
        best = " (best case)" if r["best_case"] == "yes" else ""
        lines.append(f"| {int(r['size_pages']):,} ({r['align_pages']}) | {r['layout']}{best} | " + " | ".join(cells) + " |")
    lines += ["", "VMM steps, trace=off / trace=on:", "",
              "| operation | mapped pages | vmm=pagetable | vmm=list |", "|---|---:|---:|---:|"]
    for r in gvmm:
        if r["vmm"] != "pagetable" or r["trace"] != "off":
            continue
        cells = []
        for backend in ("pagetable", "list"):
            off = pick(gvmm, operation=r["operation"], mapped_pages=r["mapped_pages"], vmm=backend, trace="off")
            on = pick(gvmm, operation=r["operation"], mapped_pages=r["mapped_pages"], vmm=backend, trace="on")
            cells.append(f"{fmt(off['instructions_per_step'])} / "
                         + (fmt(on["instructions_per_step"]) if on else "-"))
        lines.append(f"| {r['operation']} | {int(r['mapped_pages']):,} | " + " | ".join(cells) + " |")
    for r in wallclock:
        lines += ["", f"Trace transport without icount (wall clock, `wallclock-guest.csv`): "
                  f"{int(r['kb_per_s']):,} KB/s, {int(float(r['events_per_s'])):,} records/s "
                  f"({r['ticks_per_record']} TSC ticks per record), {r['workload']}."]
    return lines


def vmm_table(vmm, top):
    """The VMM rows at `top` mapped pages: vmm.c with each backend, the list backend alone and the
    vmem-design peer (benchmarks/peers/vmem.c), same request sequence, same run."""
    lines = ["", f"### VMM at {top:,} reserved (and mapped) pages (instructions per step, wall ns)", "",
             "`pagetable` and `list` are the whole `vmm_reserve` + `vmm_release` (vmm.c and its "
             "backend); `list-backend` is the list backend's own calls as vmm.c's placement makes "
             "them (`reserve_lowest` + `release`); `vmem-peer` is "
             "`benchmarks/peers/vmem.c`, Bonwick & Adams' design (instant fit, so it places "
             "elsewhere; tests/host/test_vmem_peer.c checks it against a page model).", "",
             "| operation | pages @ align | layout | pagetable | list | list-backend | vmem-peer "
             "| list-backend / peer | list / peer |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for op, size, align in dict.fromkeys((r["operation"], r["size_pages"], r["align_pages"]) for r in vmm):
        for layout in ("best-contiguous", "mixed-holes"):
            found = {b: pick(vmm, operation=op, size_pages=size, align_pages=align, layout=layout,
                             mapped_pages=top, backend=b) for b in VMM_BACKENDS}
            cells = [f"{fmt(r['instructions_per_step'])} ({float(r['wall_ns_median']):.0f} ns)" if r else "-"
                     for r in found.values()]
            peer = found[VMEM_PEER]
            for b in ("list-backend", "list"):
                cells.append(f"{float(found[b]['instructions_per_step']) / float(peer['instructions_per_step']):.2f}×"
                             if found[b] and peer else "-")
            best = " (best case)" if layout in BEST_CASE_LAYOUTS else ""
            lines.append(f"| {op} | {size} @ {align} | {layout}{best} | " + " | ".join(cells) + " |")
    return lines


def write_readme(path, out_dir, command, revision, contiguous, vmm, analyzer, guest, quick, elapsed):
    rel = os.path.relpath(out_dir, os.path.dirname(os.path.abspath(path)))
    extents = max(int(r["free_extents"]) for r in contiguous if r["layout"] == "mixed-holes")
    lines = [MARK_BEGIN, "## Benchmarks (`make bench`)", "",
             f"- command: `{command}`" + (" (reduced set)" if quick else ""),
             f"- commit: `{revision}`, date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, took {elapsed:.0f} s",
             f"- machine: {machine()}",
             f"- files: [{rel}/]({rel}/) — `contiguous.csv`, `vmm.csv`, `analyzer.csv`; plots "
             f"[cost vs size]({rel}/contiguous_vs_size.svg), [cost vs layout]({rel}/contiguous_vs_layout.svg), "
             f"[VMM backends]({rel}/vmm_backends.svg)"
             + (f", [tracing overhead]({rel}/tracing_overhead.svg), [VMM backends in the guest]({rel}/guest_vmm_backends.svg); "
                "guest figures in `guest-pmm.csv`, `guest-vmm.csv`, `guest-tracing.csv`" if guest else ""),
             "",
             "Host figures: **instructions per alloc+free pair** (callgrind, the difference of two "
             "loop lengths, so set-up cancels; deterministic) with the wall-clock median in "
             "parentheses (this shared 2-core VM; spread in the CSVs). Every allocator runs in "
             "one process on the same request sequence; the peers are this project's own "
             "implementations of the published designs (`kernel/mm/pmm_buddy.c`, `pmm_tlsf.c`, "
             "`pmm_firstfit.c`: the files the kernel runs with `pmm=`; buddy's largest order is "
             "Linux's, 10, so it refuses 1 GiB), each passing the "
             "differential test in `tests/host/test_placement.c`. Every row includes a few "
             "instructions of loop (the `harness` rows).", "",
             f"### mixed holes (up to {extents:,} free extents: half just short of the request, half 1..32 pages)", ""]
    lines += contiguous_table(contiguous, "mixed-holes")
    lines += published(contiguous)
    lines += ["", "### churn (random live set; each step frees a random live block of the size and allocates one)", ""]
    lines += contiguous_table(contiguous, "churn")
    lines += ["", "### best case (one free extent; the block just taken is freed)", ""]
    lines += contiguous_table(contiguous, "best-empty")
    top = max(int(r["mapped_pages"]) for r in vmm)
    lines += vmm_table(vmm, top)
    if guest:
        lines += guest_section(guest)
    lines += ["", "### analyzer throughput", "",
              "Decode + replay (`info`, `check`) and Perfetto output on a real capture: the trace "
              "of the guest benchmark above "
              "(vmm=pagetable, trace=on). Wall clock of the whole command, interpreter start "
              "included; median of repeats in `analyzer.csv`.", "",
              "| command | events | events/s | verdict on the trace |", "|---|---:|---:|---|"]
    for r in analyzer:
        lines.append(f"| `{r['command']}` | {int(r['events']):,} | {fmt(r['events_per_s'])} | {r['verdict']} |")
    judged = targets(contiguous, vmm, guest)
    lines += ["", "### targets", "", "| target | measured | verdict |", "|---|---|---|"]
    for t in judged:
        lines.append(f"| {t.name} | {t.measured} | **{t.verdict}** |")
    lines += miss_lines(judged, revision)
    lines += ["", MARK_END]
    section = "\n".join(lines) + "\n"
    text = open(path).read() if os.path.exists(path) else "# results\n\n"
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        text = head + section + rest.split(MARK_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def vmm_only(path, quick):
    """bench_vmm_layouts alone: the VMM table and the list-backend-vs-peer target, as make bench
    writes them, into one markdown file (written whole under a temporary name)."""
    started, revision = time.time(), commit()
    with tempfile.TemporaryDirectory(prefix="pagescope-vmm-") as dumps:
        try:
            build_bench("bench_vmm_layouts")
            vmm = bench_vmm(quick, dumps)
            judged = vmm_targets(vmm)
            why = miss_lines(judged, revision)
        except BenchError as e:
            print(f"run_bench: {e}", file=sys.stderr)
            return 1
    top = max(int(r["mapped_pages"]) for r in vmm)
    lines = ["# VMM range bookkeeping beside a vmem-design peer (issue 22)", "",
             f"- command: `/usr/bin/python3 benchmarks/run_bench.py --vmm-only {path}"
             + (" --quick" if quick else "") + "`",
             f"- commit: `{revision}`, date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
             f"took {time.time() - started:.0f} s", f"- machine: {machine()}",
             "- instructions: callgrind Ir per step, the difference of two loop lengths "
             "(150 and 50 steps), so set-up cancels; wall clock: median of repeats, this shared VM"]
    lines += vmm_table(vmm, top)
    lines += ["", "### list backend alone / vmem peer, per reserved pages", "",
              "| layout | pages @ align | " + " | ".join(f"{int(m):,}" for m in
                                                      sorted({int(r['mapped_pages']) for r in vmm})) + " |",
              "|---|---|" + "---:|" * len({r["mapped_pages"] for r in vmm})]
    for op, size, align in dict.fromkeys((r["operation"], r["size_pages"], r["align_pages"]) for r in vmm
                                         if r["backend"] == VMEM_PEER):
        for layout in ("best-contiguous", "mixed-holes"):
            cells = []
            for m in sorted({int(r["mapped_pages"]) for r in vmm}):
                want = dict(operation=op, size_pages=size, align_pages=align, layout=layout, mapped_pages=m)
                mine, peer = pick(vmm, backend="list-backend", **want), pick(vmm, backend=VMEM_PEER, **want)
                cells.append(f"{fmt(mine['instructions_per_step'])} / {fmt(peer['instructions_per_step'])}")
            lines.append(f"| {layout} | {size} @ {align} | " + " | ".join(cells) + " |")
    lines += ["", "### targets", "", "| target | measured | verdict |", "|---|---|---|"]
    for t in judged:
        lines.append(f"| {t.name} | {t.measured} | **{t.verdict}** |")
    lines += why
    if not write_whole(path, lines):
        return 1
    print(f"run_bench: VMM table in {path} ({time.time() - started:.0f} s)")
    return 0


def write_whole(path, lines):
    """Writes the lines to path under a temporary name, then renames it; False (said on stderr,
    nothing left behind) when that fails."""
    tmp = path + ".partial"
    try:
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        print(f"run_bench: writing {path}: {e}", file=sys.stderr)
        if os.path.exists(tmp):
            os.remove(tmp)
        return False
    return True


def contiguous_only(path, quick):
    """bench_contiguous under callgrind for pagescope, the regions placement alone and TLSF only:
    the pmm-vs-TLSF table of issue 22 and its verdict, into one markdown file (written whole
    under a temporary name). Seconds instead of make bench's minutes; the same loops and
    figures as make bench's contiguous.csv."""
    started, revision = time.time(), commit()
    program = os.path.join(BENCH_BIN, "bench_contiguous")
    with tempfile.TemporaryDirectory(prefix="pagescope-contiguous-") as dumps:
        try:
            build_bench("bench_contiguous")
            rows = contiguous_counts(program, ["--allocators", "pagescope,regions,tlsf"]
                                     + (["--quick"] if quick else []), dumps)
            return contiguous_write(path, quick, rows, started, revision)
        except BenchError as e:
            print(f"run_bench: {e}", file=sys.stderr)
            return 1


def contiguous_write(path, quick, rows, started, revision):
    """contiguous_only's markdown, while the dumps of rows exist (a miss is profiled from them)."""
    lines = ["# The kernel's page allocator beside TLSF (issue 22)", "",
             f"- command: `/usr/bin/python3 benchmarks/run_bench.py --contiguous-only {path}"
             + (" --quick" if quick else "") + "` (it builds `build/bench/bench_contiguous` first)",
             f"- commit: `{revision}`, date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
             f"took {time.time() - started:.0f} s",
             "- instructions per alloc+free pair: callgrind Ir, the difference of two loop lengths "
             "divided by the difference in steps, so set-up cancels (as `make bench`); "
             "pagescope = the common layer (page_allocator.c) over the regions placement, "
             "regions = the placement alone, tlsf = benchmarks' peer placement (pmm_tlsf.c)", "",
             "| layout | pages @ align | pagescope | regions | tlsf | pagescope / tlsf | wasted | failed |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    mine = [r for r in rows if r["allocator"] == "pagescope"]
    over, wasted, failed = [], 0, 0
    for r in mine:
        want = dict(layout=r["layout"], size_pages=r["size_pages"])
        regions, tlsf = pick(rows, allocator="regions", **want), pick(rows, allocator="tlsf", **want)
        me, peer = float(r["instructions_per_pair"]), float(tlsf["instructions_per_pair"])
        if me > peer:
            over.append(f"{r['layout']}/{r['size_pages']}")
        wasted += int(r["wasted_pages"])
        failed += int(r["failed_allocs"]) + int(r["setup_failed_allocs"])
        lines.append(f"| {r['layout']} | {int(r['size_pages']):,} @ {r['align_pages']} | "
                     f"{fmt(me)} | {fmt(regions['instructions_per_pair'])} | {fmt(peer)} | "
                     f"{me / peer:.2f} | {r['wasted_pages']} | "
                     f"{int(r['failed_allocs']) + int(r['setup_failed_allocs'])} |")
    met = not over and wasted == 0 and failed == 0
    lines += ["", f"**Target (pagescope ≤ tlsf on every row, no page wasted, no failure): "
              f"{'met' if met else 'not met'}** — {len(mine) - len(over)}/{len(mine)} rows ≤ tlsf"
              + (f"; above: {', '.join(over)}" if over else "")
              + f"; {wasted} pages wasted, {failed} allocations failed."]
    if over:
        lines += miss_lines([pmm_tlsf_target(rows)._replace(name="pagescope ≤ tlsf on every row")],
                            revision)
    elif not met:
        lines += ["", "Missed on pages wasted or allocations failed, not on instructions: no "
                  "profile applies."]
    if not write_whole(path, lines):
        return 1
    print(f"run_bench: pmm-vs-TLSF table in {path} ({time.time() - started:.0f} s): "
          f"{len(mine) - len(over)}/{len(mine)} rows <= tlsf")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced set (minutes: the guest boots dominate)")
    parser.add_argument("--out", default=os.path.join(ROOT, "results", "bench"))
    parser.add_argument("--readme", default=os.path.join(ROOT, "results", "README.md"))
    parser.add_argument("--command", default="make bench")
    parser.add_argument("--trace", help="keep the guest benchmark's trace (the analyzer "
                        "throughput's input) here; default: a scratch file removed at the end")
    parser.add_argument("--guest-only", action="store_true",
                        help="only the guest benchmarks: guest-*.csv, no plots or README")
    parser.add_argument("--guest-mem", help="guest memory (default 4G, 256M with --quick)")
    parser.add_argument("--vmm-only", metavar="FILE",
                        help="only the VMM benchmark (bench_vmm_layouts, full set): its table at "
                        "1,000,000 pages and the list-vs-vmem-peer target into FILE (markdown)")
    parser.add_argument("--contiguous-only", metavar="FILE",
                        help="only bench_contiguous's pagescope, regions and tlsf rows under "
                        "callgrind: the pmm-vs-TLSF table and verdict into FILE (markdown)")
    args = parser.parse_args()
    if args.contiguous_only:
        return contiguous_only(args.contiguous_only, args.quick)
    if args.vmm_only:
        return vmm_only(args.vmm_only, args.quick)
    if not shutil.which("valgrind"):
        print("run_bench: valgrind is missing (scripts/install-deps.sh bench)", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    started, revision = time.time(), commit()  # before this run writes anything
    scratch = tempfile.TemporaryDirectory(prefix="pagescope-bench-")
    args.trace = args.trace or os.path.join(scratch.name, "guest-bench.pstrace")
    steps = [("guest (scenario=bench, both backends, trace=off/on)", "guest")]
    if not args.guest_only:
        steps = [("contiguous allocation (pmm, buddy, TLSF, first fit)", "contiguous"),
                 ("VMM backends", "vmm")] + steps + [
                 ("analyzer throughput", "analyzer"), ("plots and README", "report")]
    results = {}
    written = {
        "contiguous": [("contiguous.csv", CONTIGUOUS_FIELDS)], "vmm": [("vmm.csv", VMM_FIELDS)],
        "analyzer": [("analyzer.csv", ANALYZER_FIELDS)],
        "guest": [("guest-pmm.csv", GUEST_PMM_FIELDS), ("guest-vmm.csv", GUEST_VMM_FIELDS),
                  ("guest-tracing.csv", GUEST_TRACING_FIELDS),
                  ("wallclock-guest.csv", WALLCLOCK_FIELDS)]}
    try:
        for i, (name, key) in enumerate(steps, 1):
            t0 = time.time()
            progress(i, len(steps), name, "running")
            if key == "contiguous":
                results[key] = (bench_contiguous(args.quick, scratch.name),)
            elif key == "vmm":
                results[key] = (bench_vmm(args.quick, scratch.name),)
            elif key == "guest":
                results[key] = bench_guest(args.quick, args.guest_mem,
                                           None if args.guest_only else args.trace,
                                           wallclock_too=not (args.quick or args.guest_only))
            elif key == "analyzer":
                results[key] = (bench_analyzer(args.quick, args.trace),)
            else:
                plots(args.out, results["contiguous"][0], results["vmm"][0], results["guest"])
                write_readme(args.readme, args.out, args.command, revision, results["contiguous"][0],
                             results["vmm"][0], results["analyzer"][0], results["guest"],
                             args.quick, time.time() - started)
            files = []
            for (csv_name, fields), rows in zip(written.get(key, []), results.get(key, ())):
                if not rows:  # wallclock-guest.csv: only full runs boot without icount
                    continue
                write_csv(os.path.join(args.out, csv_name), fields, rows)
                files.append(csv_name)
            progress(i, len(steps), name, f"done in {time.time() - t0:.1f} s"
                     + (f" -> {', '.join(files)}" if files else ""))
    except BenchError as e:
        print(f"run_bench: {e}", file=sys.stderr)
        return 1
    finally:
        scratch.cleanup()
    print(f"make bench: {time.time() - started:.0f} s, results in {args.out}"
          + ("" if args.guest_only else f", summary in {args.readme}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
