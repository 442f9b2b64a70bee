"""The HTML report: one index.html with its images beside it, no script or style from the network.

Sections, in order: the verdict (fed by `verdict_section`, from the measured headline figures),
what ran (per trace: backend, command line, memory, seed, build commit, clock, events), the
headline figures, then every plot with a one-line caption saying what to look at."""

import html
import os
import shutil
from pathlib import Path

import numpy as np

from . import compare, counters, plots, processes, program_report, verdict, verdict_figures
from .progress import member_phases, workload_name
from .events import REPO_ROOT
from .output import atomic_file
from .perfetto import present_zones


def _seed(cmdline):
    for word in cmdline.split():
        if word.startswith("seed="):
            return word[5:]
    return "1 (default)"


def peak_bookkeeping(trace):
    """The most bookkeeping bytes all contexts held at once (the kernel's vmm_bookkeeping
    events), or None when the trace has none."""
    totals = counters.bookkeeping_totals(trace)
    return None if totals is None else int(totals[1].max())


def peak_bookkeeping_by_workload(trace):
    """{workload: peak bookkeeping bytes}: the whole run under its own name and, for a composite
    scenario, each member workload over its own phase (the snapshots at its boundaries
    included)."""
    totals = counters.bookkeeping_totals(trace)
    if totals is None:
        return {}
    positions, held = totals
    peaks = {workload_name(trace): int(held.max())}
    for name, first, last in member_phases(trace):
        inside = (positions >= first) & (positions <= last)
        if inside.any():
            peaks[name] = int(held[inside].max())
    return peaks


def headline_figures(runs):
    """{backend: {figure name: value}}: what the verdict and the headline table show."""
    figures = {}
    for trace, series in runs:
        name = plots.backend(trace)
        peak = peak_bookkeeping(trace) or 0
        reserve = compare.work_stats(trace, "vmm_reserve")
        release = compare.work_stats(trace, "vmm_release")
        last = series.samples[-1] if series.samples else None
        zones = present_zones(series)
        figures[name] = {
            "events": trace.events_total(),
            "peak bookkeeping bytes": peak,
            "reserves": reserve.count,
            "median work per reserve": reserve.p50,
            "p99 work per reserve": reserve.p99,
            "max work per reserve": reserve.maximum,
            "median work per release": release.p50,
            "max work per release": release.maximum,
            "final unusable index order 9": {z: round(last.zones[z].unusable[9], 3) for z in zones}
            if last else {},
            "final largest free extent (MiB)": round(max(z.largest for z in last.zones.values())
                                                     * 4096 / 2**20, 1) if last else 0,
        }
    return figures


def peak_reservations(trace):
    """The most reservations alive at once in a trace, over all its contexts."""
    reserves, releases = trace.of("vmm_reserve")["position"], trace.of("vmm_release")["position"]
    if not len(reserves):
        return 0
    positions = np.concatenate([reserves, releases])
    steps = np.concatenate([np.ones(len(reserves), np.int64), -np.ones(len(releases), np.int64)])
    return int(np.cumsum(steps[np.argsort(positions, kind="stable")]).max())


def measured_figures(runs, workloads=()):
    """The verdict's Figures (analyzer/verdict.py) that these traces measure: each backend's
    peak bookkeeping bytes per workload, from the kernel's vmm_bookkeeping events (each member of
    a composite scenario counted on its own as well), and the peak number of reservations per
    workload (which a per-reservation field would multiply). `workloads` adds (name, trace)
    pairs measured for the verdict alone (make report: every recorded program replayed under
    both backends)."""
    peaks, reservations = {}, {}
    named = [(workload_name(trace), trace) for trace, _ in runs] + list(workloads)
    for name, trace in named:
        by_workload = peak_bookkeeping_by_workload(trace)
        if by_workload:
            by_workload[name] = by_workload.pop(workload_name(trace))
        for workload, peak in by_workload.items():
            peaks.setdefault(workload, {})[plots.backend(trace)] = peak
        reservations[name] = max(reservations.get(name, 0), peak_reservations(trace))
    return verdict.Figures(bookkeeping_peak=peaks, list_peak_records=reservations)


def fault_lookup_figures(programs):
    """program -> backend -> the cost of classifying the faulting page, per fault (median and p99
    by nearest rank of page_fault.lookup_ticks, the fault count, the clock's unit)."""
    found = {}
    for entry in programs:
        name, trace = entry[0], entry[1]
        ticks = trace.of("page_fault")["lookup_ticks"]
        if not len(ticks):
            continue
        stats = processes.TickStats.of(ticks)
        found.setdefault(name, {})[plots.backend(trace)] = {
            "median": stats.median, "p99": stats.p99, "faults": stats.count,
            "unit": processes.tick_unit(trace.header)}
    return found


def verdict_section(figures, out_dir):
    """The report's opening section: every claim of the seed's page-table vs list table with
    the verdict analyzer/verdict.py computes from `figures` (claims these traces do not measure
    say so), and a one-paragraph summary."""
    results = verdict.verdicts(figures)
    rows = []
    for v in results:
        plot = (f"<a href='{html.escape(v.plot)}'>plot</a>"
                if v.plot and (Path(out_dir) / v.plot).exists() else "")
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in (
            v.topic, v.backend, v.claim, v.outcome, v.figure,
            v.rule + (f". Depends on {v.depends_on}." if v.depends_on else ""))) +
            f"<td>{plot}</td></tr>")
    return (f"<p>{html.escape(verdict.summary_paragraph(results))}</p>"
            "<table><tr><th>topic</th><th>backend</th><th>claim</th><th>verdict</th>"
            "<th>figure</th><th>rule</th><th></th></tr>" + "".join(rows) + "</table>")


VERDICT_BEGIN, VERDICT_END = "<!-- verdict:begin -->", "<!-- verdict:end -->"


def verdict_markdown(figures, report_dir, readme):
    """The verdict as a Markdown section for `readme` (results/README.md): the summary paragraph
    and one table row per claim, each with its figure, its rule and a link to the plot behind it.
    The plots are copied beside the README, so the links hold where the report itself is not
    committed."""
    results = verdict.verdicts(figures)
    cell = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    where = os.path.relpath(Path(report_dir) / "index.html", Path(readme).parent)
    lines = [VERDICT_BEGIN, "## The seed's question: page tables or an extra list?", "",
             "Computed by `make report` from its own run, never typed by hand (rules in "
             f"`analyzer/verdict.py`; the full report with every plot is written to `{where}`).",
             "", verdict.summary_paragraph(results), "",
             "| topic | backend | claim | verdict | figure | rule | plot |",
             "|---|---|---|---|---|---|---|"]
    for v in results:
        outcome = v.outcome + (f" on {v.depends_on}" if v.depends_on else "")
        plot = ""
        if v.plot and (Path(report_dir) / v.plot).exists():
            shutil.copyfile(Path(report_dir) / v.plot, Path(readme).parent / v.plot)
            plot = f"[plot]({v.plot})"
        lines.append("| " + " | ".join(cell(x) for x in (v.topic, v.backend, v.claim, outcome,
                                                           v.figure, v.rule, plot)) + " |")
    return "\n".join(lines + [VERDICT_END]) + "\n"


def splice_verdict(readme, section):
    """Replaces the verdict section of `readme` (between its markers), or puts it right after
    the first heading when there is none yet."""
    text = readme.read_text() if readme.exists() else "# results\n"
    if VERDICT_BEGIN in text and VERDICT_END in text:
        head, rest = text.split(VERDICT_BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(VERDICT_END, 1)[1]
    else:
        first, _, rest = text.partition("\n")
        text = first + "\n\n" + section + rest
    with atomic_file(readme, "w") as f:
        f.write(text)


def _what_ran(runs, command_line):
    rows = []
    for trace, _ in runs:
        h = trace.header
        seconds = trace.seconds_per_tick()
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            Path(trace.path).name, h.value_name("vmm_backend"), h.cmdline,
            f"{h.memory_bytes / 2**20:.0f} MiB", _seed(h.cmdline), h.build_id or "?",
            f"{h.value_name('clock')} at {h.clock_hz / 1e6:.1f} MHz" if seconds else "unknown",
            trace.events_total())) + "</tr>")
    return (f"<p>Report command: <code>{html.escape(command_line)}</code></p>"
            "<table><tr><th>trace</th><th>backend</th><th>kernel command line</th><th>memory</th>"
            "<th>seed</th><th>commit</th><th>clock</th><th>events</th></tr>" + "".join(rows) +
            "</table>")


def _headline_table(figures):
    names = list(figures)
    keys = list(next(iter(figures.values())))
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th>" + "".join(
            f"<td>{html.escape(_fmt(figures[n][k]))}</td>" for n in names) + "</tr>" for k in keys)
    return ("<table><tr><th></th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) +
            "</tr>" + rows + "</table>")


def _fmt(value):
    if isinstance(value, dict):
        return ", ".join(f"{k} {v:g}" for k, v in value.items()) or "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    if isinstance(value, (int, float)):
        return f"{int(value):,}"
    return str(value)


STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:90%;text-align:left}figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}
figcaption{font-size:90%;color:#444}code{background:#f4f4f4}"""


def write_report(runs, out_dir, command_line, extra_files=(), workloads=(), programs=()):
    """Writes index.html and the plots into out_dir (which exists and is empty); copies
    extra_files (traces) beside them and links them. `workloads`: (name, trace) pairs that feed
    only the verdict (measured_figures). `programs`: (program name, trace, series), one per
    program and backend, for the real-program section (analyzer/program_report.py)."""
    out_dir = Path(out_dir)
    figures_drawn = plots.draw_all(runs, out_dir)
    figures = headline_figures(runs)
    verdict_measured = verdict_figures.gather(measured_figures(runs, workloads))
    verdict_measured.fault_lookup = fault_lookup_figures(programs)
    figures_drawn += plots.draw_verdict_figures(verdict_measured, out_dir)
    for f in extra_files:
        shutil.copyfile(f, out_dir / Path(f).name)
    links = sorted(p.name for p in out_dir.iterdir() if p.suffix in (".pstrace", ".pftrace"))
    body = [f"<h1>pagescope report</h1>",
            "<h2 id='verdict'>Verdict</h2>",
            verdict_section(verdict_measured, out_dir),
            "<h2>What ran</h2>", _what_ran(runs, command_line),
            "<h2>Headline figures</h2>", _headline_table(figures)]
    if programs:
        section, _ = program_report.program_section(programs, out_dir)
        body += ["<h2 id='programs'>Real programs</h2>", section]
    if links:
        body.append("<p>Traces (open a <code>.pftrace</code> in ui.perfetto.dev): " +
                    ", ".join(f"<a href='{html.escape(n)}'>{html.escape(n)}</a>" for n in links) +
                    "</p>")
    bench = REPO_ROOT / "results" / "bench"
    if bench.is_dir() and out_dir.resolve().parent == bench.parent:
        body.append("<p>Benchmarks (<code>make bench</code>: instruction counts per operation, "
                    "both backends): <a href='../bench/'>results/bench</a></p>")
    body.append("<h2>Plots</h2>")
    for fig in figures_drawn:
        body.append(f"<figure id='{fig.name}'><h3>{html.escape(fig.title)}</h3>"
                    f"<img src='{fig.name}.png' alt='{html.escape(fig.title)}'>"
                    f"<figcaption>{html.escape(fig.caption)} "
                    f"(<a href='{fig.name}.svg'>SVG</a>)</figcaption></figure>")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>pagescope report</title>"
            f"<style>{STYLE}</style></head><body>" + "\n".join(body) + "</body></html>\n")
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    return figures, verdict_measured
