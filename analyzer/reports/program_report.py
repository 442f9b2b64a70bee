"""The per-program figures (analyzer/metrics/processes.py) as text, for `analyzer programs`, and as the
report's real-program section (report.py), one block per (program, backend, trace) input so that
`make report` can pass several programs; a trace of several runs (one boot) gives a block per run.

Text layout, per trace: a header line (file, backend, what a tick is and why), then per process
and for all processes together: system calls by name, the unsupported ones, faults by outcome,
peak resident and reserved pages, ticks per fault (median, p99 by nearest rank, max); then the
backend's bookkeeping bytes over guest time (evenly spaced rows when there are many, said so).
"""

import html
import shutil
from pathlib import Path

import numpy as np

from ..pictures import program_plots
from ..export.perfetto import to_perfetto
from ..metrics.processes import (FORKED, RunWindow, TickStats, behaviour, first_behaviour_difference,
                        program_runs, run_figures)

ROWS_SHOWN = 12
PAGE_KIB = 4


def _counts(counter):
    """'12: brk 5, mmap 4, ...' by decreasing count, then name."""
    total = sum(counter.values())
    return f"{total}" + (": " + ", ".join(f"{name} {n}" for name, n in sorted(
        counter.items(), key=lambda kv: (-kv[1], kv[0]))) if total else "")


def _ticks(stats, unit):
    if not stats.count:
        return "no faults"
    return (f"median {stats.median:,}, p99 {stats.p99:,}, max {stats.maximum:,} {unit} "
            f"(n = {stats.count}; percentiles by nearest rank)")


def _process_lines(p, unit, name_width=14):
    w = name_width
    return [f"  {'syscalls':<{w}}{_counts(p.syscalls)}",
            f"  {'unsupported':<{w}}{_counts(p.unsupported)} (calls that returned -ENOSYS)",
            f"  {'faults':<{w}}{_counts(p.faults)}",
            f"  {'peak pages':<{w}}resident {p.peak_resident:,} ({p.peak_resident * PAGE_KIB:,} "
            f"KiB), reserved {p.peak_reserved:,} ({p.peak_reserved * PAGE_KIB:,} KiB)",
            f"  {'per fault':<{w}}{_ticks(TickStats.of(p.fault_ticks), unit)}"]


def write_programs(traces, out):
    """Writes the text of `analyzer programs` for BulkTraces, one block per trace (per run of a
    several-run trace), then whether every trace holds the calls and faults of the first (run by
    run, for several-run traces)."""
    blocks = [program_runs(trace) or [trace] for trace in traces]
    for n, trace in enumerate(b for runs in blocks for b in runs):
        run = run_figures(trace)
        if n:
            out.write("\n")
        out.write(f"trace       {run.path}\n")
        out.write(f"backend     {run.backend}\n")
        out.write(f"ticks       {run.unit}: {run.unit_source}\n")
        if not run.processes:
            out.write("processes   none (this trace has no process_start event)\n")
            continue
        out.write(f"processes   {len(run.processes)}\n")
        for p in run.processes:
            out.write(f"\n{p.label}  ({p.how}" + (f" by pid {p.parent}" if p.how == FORKED else "")
                      + f"; {p.ending})\n")
            out.write("\n".join(_process_lines(p, run.unit)) + "\n")
        if len(run.processes) > 1:
            out.write("\nall processes (pages summed over the processes alive at once: a frame "
                      "shared since a fork counts in each)\n" +
                      "\n".join(_process_lines(run.totals, run.unit)) + "\n")
        _write_bookkeeping(run, out)
    first = {getattr(b, "run", None): b for b in blocks[0]} if blocks else {}
    for runs in blocks[1:]:
        for trace in runs:
            if getattr(trace, "run", None) in first:
                out.write(f"\nsame run    "
                          f"{_same_behaviour(first[getattr(trace, 'run', None)], trace)}\n")


def _same_behaviour(first, other):
    difference = first_behaviour_difference(first, other)
    counted = len(behaviour(other))
    if difference is None:
        return (f"{other.path} makes the same {counted} calls and faults (arguments, results, "
                f"addresses, outcomes) in the same order as {first.path}")
    return f"{other.path} differs from {first.path}: {difference}"


def _write_bookkeeping(run, out):
    seconds_label = "guest s" if run.seconds_known else "1e9 ticks"
    out.write("\nbookkeeping bytes over time (the processes' contexts, as the kernel's "
              "vmm_bookkeeping reports them after each snapshot and, when changed, after a change "
              "of a process's pages: every one under list; under pagetable when its table "
              "count changed and every 64th, a sample; 0 once destroyed; time since "
              "the first process started)\n")
    n = len(run.bookkeeping_bytes)
    if not n:
        out.write("  none reported\n")
        return
    shown = sorted(set(np.linspace(0, n - 1, min(n, ROWS_SHOWN)).round().astype(int).tolist()))
    if len(shown) < n:
        out.write(f"  ({len(shown)} of {n} reports shown, evenly spaced; peak "
                  f"{int(run.bookkeeping_bytes.max()):,} bytes)\n")
    for i in shown:
        out.write(f"  {run.bookkeeping_seconds[i]:>+12.6f} {seconds_label}  "
                  f"{int(run.bookkeeping_bytes[i]):>12,} bytes\n")


# ---- the report's section ---------------------------------------------------------------------

def _cell(text):
    return f"<td>{html.escape(str(text))}</td>"


def program_section(programs, out_dir):
    """HTML of the real-program section and the figures it draws into out_dir. `programs`:
    [(program name, BulkTrace, its series for Perfetto)], each trace one backend's run of that
    program (several programs, each under several backends, may be given)."""
    by_program, traces_of = {}, {}
    for name, trace, series in programs:
        by_program.setdefault(name, []).append(run_figures(trace))
        traces_of.setdefault(name, []).append((trace, series))
    parts = ["<p>Programs run as user processes with demand paging (scenario=program): every "
             "figure below is added up from the trace's process, fault and system-call events "
             "(<code>python3 -m analyzer programs TRACE</code> prints the same per process).</p>"]
    figures, copied = [], {}
    for name, runs in by_program.items():
        parts.append(f"<h3 id='program-{html.escape(name)}'>{html.escape(name)}</h3>")
        parts.append(_summary_table(runs))
        first = traces_of[name][0][0]
        parts += [f"<p>{html.escape(_same_behaviour(first, other))}</p>"
                  for other, _ in traces_of[name][1:]]
        parts.append("<p>Traces: " + ", ".join(_copy_trace(name, trace, series, out_dir, copied)
                                                for trace, series in traces_of[name]) + "</p>")
        drawn = program_plots.draw_program(name, runs, out_dir)
        figures += drawn
        for fig in drawn:
            parts.append(f"<figure id='{fig.name}'><h4>{html.escape(fig.title)}</h4>"
                         f"<img src='{fig.name}.png' alt='{html.escape(fig.title)}'>"
                         f"<figcaption>{html.escape(fig.caption)} "
                         f"(<a href='{fig.name}.svg'>SVG</a>)</figcaption></figure>")
    return "\n".join(parts), figures


def _copy_trace(name, trace, series, out_dir, copied):
    """Copies a program's trace into the report with its Perfetto conversion, under a name of
    the program and backend (inputs from different directories may share a file name); returns
    the HTML links to both. A run of a several-run trace links to the whole trace, copied and
    converted once (`copied`: its path -> links)."""
    if isinstance(trace, RunWindow):
        trace = trace.whole
        name = "runs"
    if trace.path in copied:
        return copied[trace.path]
    stem = f"program_{program_plots.slug(name)}_{trace.header.value_name('vmm_backend')}"
    n, unique = 1, stem
    while (Path(out_dir) / f"{unique}.pstrace").exists():
        n += 1
        unique = f"{stem}_{n}"
    shutil.copyfile(trace.path, Path(out_dir) / f"{unique}.pstrace")
    (Path(out_dir) / f"{unique}.pftrace").write_bytes(to_perfetto(trace, series))
    copied[trace.path] = " ".join(f"<a href='{unique}{ext}'>{unique}{ext}</a>"
                                  for ext in (".pstrace", ".pftrace"))
    return copied[trace.path]


def _summary_table(runs):
    rows = [("processes", lambda r: ", ".join(f"{p.label} ({p.ending})" for p in r.processes)),
            ("system calls", lambda r: _counts(r.totals.syscalls)),
            ("unsupported calls (-ENOSYS)", lambda r: _counts(r.totals.unsupported)),
            ("faults by outcome", lambda r: _counts(r.totals.faults)),
            ("peak resident pages (summed over the processes alive at once; a frame shared "
             "since a fork counts in each)", lambda r: f"{r.totals.peak_resident:,}"),
            ("peak reserved pages (all processes)", lambda r: f"{r.totals.peak_reserved:,}"),
            ("per fault", lambda r: _ticks(TickStats.of(r.totals.fault_ticks), r.unit)),
            ("peak bookkeeping bytes", lambda r: f"{int(r.bookkeeping_bytes.max()):,}"
             if len(r.bookkeeping_bytes) else "none reported"),
            ("clock", lambda r: f"{r.unit}: {r.unit_source}"),
            ("trace", lambda r: Path(r.path).name)]
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(r.backend)}</th>" for r in runs) + "</tr>"
    body = "".join(f"<tr><th>{html.escape(label)}</th>" + "".join(_cell(f(r)) for r in runs) +
                   "</tr>" for label, f in rows)
    return f"<table>{head}{body}</table>"
