"""The HTML report: one index.html with its images beside it, no script or style from the network.

Sections, in order: the verdict (fed by `verdict_section`, from the measured headline figures),
what ran (per trace: backend, command line, memory, seed, build commit, clock, events), the
headline figures, then every plot with a one-line caption saying what to look at."""

import html
import os
import shutil
from pathlib import Path

from ..metrics import compare, counters, processes, verdict, verdict_figures

from ..pictures import plots

from . import program_report
from ..metrics.progress import member_phases, workload_name
from ..definitions.events import PAGE, REPO_ROOT
from ..definitions.output import atomic_file
from ..definitions.units import clock_text, format_bytes


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
        zones = series.timeline.zones
        largest = plots.largest_free_steps(series)[1] if zones else None
        figures[name] = {
            "events": trace.events_total(),
            "peak bookkeeping bytes": peak,
            "reserves": reserve.count,
            "median work per reserve": reserve.p50,
            "p99 work per reserve": reserve.p99,
            "max work per reserve": reserve.maximum,
            "median work per release": release.p50,
            "max work per release": release.maximum,
            "final unusable index order 9": {z: round(float(zones[z].unusable()[-1, 9]), 3)
                                             for z in series.timeline.present_zones()},
            "final largest free extent (MiB)": round(int(largest[-1]) * PAGE / 2**20, 1)
            if largest is not None else 0,
            "lowest largest free extent (MiB)": round(int(largest.min()) * PAGE / 2**20, 1)
            if largest is not None else 0,
        }
    return figures


def peak_reservations(trace):
    """The most reservations alive at once in a trace, over all its contexts. A brk that grows or
    shrinks a heap changes an existing reservation (the vmm_reserve or vmm_release of the
    difference that follows a vmm_brk is not a reservation of its own), and a context's
    reservations all die with it (context_destroy)."""
    kinds = ("vmm_reserve", "vmm_release", "vmm_brk", "context_destroy")
    events = []
    for kind in kinds:
        a = trace.of(kind)
        events += [(p, kinds.index(kind), c) for p, c in zip(a["position"].tolist(),
                                                             a["context"].tolist())]
    live, peak, resizing = {}, 0, set()
    for _, kind, context in sorted(events):
        if kind == 2:
            resizing.add(context)
        elif kind == 3:
            live[context] = 0
            resizing.discard(context)
        elif context in resizing:
            resizing.discard(context)  # the difference of a brk: the same reservation
        else:
            live[context] = live.get(context, 0) + (1 if kind == 0 else -1)
            peak = max(peak, sum(live.values()))
    return peak


def measured_figures(runs, workloads=()):
    """The verdict's Figures (analyzer/metrics/verdict.py) that these traces measure: each backend's
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
    the verdict analyzer/metrics/verdict.py computes from `figures` (claims these traces do not measure
    say so), and a one-paragraph summary."""
    results = verdict.verdicts(figures)
    rows = []
    for v in results:
        plot = (f"<a href='{html.escape(v.plot)}'>plot</a>"
                if v.plot and (Path(out_dir) / v.plot).exists() else "")
        cells = [f"<td>{html.escape(str(x))}</td>" for x in (
            verdict.shown_topic(v), v.backend, v.claim, v.outcome, v.figure,
            v.rule + (f". Depends on {v.depends_on}." if v.depends_on else ""))]
        colour = OUTCOME_COLOURS.get(v.outcome, "white")
        cells[3] = (f"<td class='outcome' style='background:{colour}'>"
                    f"{html.escape(v.outcome)}</td>")
        rows.append("<tr>" + "".join(cells) + f"<td>{plot}</td></tr>")
    return (f"<p>{html.escape(verdict.summary_paragraph(results))}</p>"
            "<table><tr><th>topic</th><th>backend</th><th>claim</th><th>verdict</th>"
            "<th>figure</th><th>rule</th><th></th></tr>" + "".join(rows) + "</table>")


# The verdict column's background per outcome: green holds, red does not, amber depends.
OUTCOME_COLOURS = {verdict.HOLDS: "#d4edda", verdict.DOES_NOT_HOLD: "#f8d7da",
                   verdict.DEPENDS: "#fff3cd", verdict.NOT_MEASURED: "#eeeeee"}


def verdict_inputs_present(runs):
    """The verdict compares the page-table and list backends on one workload: it is shown only
    when the report's traces include both, each with the kernel's bookkeeping reports."""
    backends = {plots.backend(trace) for trace, _ in runs
                if counters.bookkeeping_totals(trace) is not None}
    return {verdict.PAGETABLE, verdict.LIST} <= backends


def _git(*args):
    import subprocess
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance(runs):
    """Where each of the verdict's figures comes from, as HTML list items: the traces (and the
    commit their kernel was built from), the C source (this checkout's commit) and each
    benchmark CSV (the commit that last wrote it), with a warning when they differ."""
    built = sorted({trace.header.build_id or "?" for trace, _ in runs})
    head = _git("rev-parse", "--short", "HEAD") or "?"
    items = [f"bookkeeping bytes and peak reservations: the traces of this report, kernel "
             f"built from commit {', '.join(built)}",
             f"lines of code, entry bits, list record size: the C source of this checkout, "
             f"commit {head}" + (" with uncommitted changes" if _git("status", "--porcelain",
                                                                      "--", "kernel") else "")]
    for name, what in (("vmm.csv", "instructions per reserve (host, callgrind)"),
                       ("guest-vmm.csv", "instructions per brk (guest, icount)")):
        path = verdict_figures.BENCH_DIR / name
        if not path.exists():
            items.append(f"{what}: not measured (no {path.relative_to(REPO_ROOT)})")
            continue
        commit = _git("log", "-1", "--format=%h %cs", "--", str(path)) or "uncommitted"
        stale = "" if any(commit.startswith(b.replace("-dirty", "")) for b in built) else \
            " (another commit than the traces': rerun make bench to measure this one)"
        items.append(f"{what}: {path.relative_to(REPO_ROOT)}, last written in commit "
                     f"{commit}{stale}")
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def figure_sources(runs, workloads=()):
    """{figure name: where its numbers come from}: the traces (and their kernel build) for the
    plots over a run, the benchmark CSV and the commit that wrote it for the verdict's cost
    plots, this checkout's source for the code figures; "traces" is the default."""
    built = ", ".join(sorted({trace.header.build_id or "?" for trace, _ in runs}))
    traces = (", ".join(Path(trace.path).name for trace, _ in runs) +
              f" (kernel build {built})")
    head = _git("rev-parse", "--short", "HEAD") or "?"

    def bench(name):
        path = verdict_figures.BENCH_DIR / name
        commit = _git("log", "-1", "--format=%h", "--", str(path)) or "uncommitted"
        return f"{path.relative_to(REPO_ROOT)} (written in commit {commit})"

    code = f"the C source of this checkout (commit {head})"
    return {"traces": traces, "reserve_cost": bench("vmm.csv"),
            "brk_instructions": bench("guest-vmm.csv"), "pte_bits": code,
            "implementation_lines": code, "extension_cost": code + " and the traces",
            "fault_lookup": "the real programs' traces (page_fault.lookup_ticks, every fault)",
            "bookkeeping_peaks": traces + (f" and {len(workloads)} workload traces"
                                           if workloads else "")}


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
             f"`analyzer/metrics/verdict.py`; the full report with every plot is written to `{where}`).",
             "", verdict.summary_paragraph(results), "",
             "| topic | backend | claim | verdict | figure | rule | plot |",
             "|---|---|---|---|---|---|---|"]
    for v in results:
        outcome = v.outcome + (f" on {v.depends_on}" if v.depends_on else "")
        plot = ""
        if v.plot and (Path(report_dir) / v.plot).exists():
            shutil.copyfile(Path(report_dir) / v.plot, Path(readme).parent / v.plot)
            plot = f"[plot]({v.plot})"
        lines.append("| " + " | ".join(cell(x) for x in (verdict.shown_topic(v), v.backend, v.claim, outcome,
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
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            Path(trace.path).name, h.value_name("vmm_backend"), h.cmdline,
            f"{h.memory_bytes / 2**20:.0f} MiB", _seed(h.cmdline), h.build_id or "?",
            clock_text(h),
            trace.events_total())) + "</tr>")
    return (f"<p>Reproduce this report: <code>{html.escape(command_line)}</code></p>"
            "<table><tr><th>trace</th><th>backend</th><th>kernel command line</th><th>memory</th>"
            "<th>seed</th><th>commit</th><th>clock</th><th>events</th></tr>" + "".join(rows) +
            "</table>")


def holders_section(runs, out_dir, top=15):
    """Who holds the memory at the peak, for the first run: the page_owner-style table of call
    sites (physical pages), the owner tags, and a flame graph of the pages held by call chain
    (flame.svg; the same data as flame.folded, which flamegraph.pl and speedscope open). None
    when the trace carries no call chains, or the kernel ELF that names them is not this
    trace's build."""
    from ..metrics import attribution, mmstat
    from ..export import flamegraph, heap_profile
    trace, series = runs[0]
    found = attribution.attributed_or_none(trace)
    if found is None:
        return None
    position, when = mmstat.resolve(trace, series, ("peak", None))
    (Path(out_dir) / "heap.pftrace").write_bytes(heap_profile.to_heap_profile(
        trace, found, [(position, when), mmstat.resolve(trace, series, ("end", None))]))
    held = attribution.held_by_site(trace, found, "pmm_alloc", position)
    total = sum(h.bytes for h in held) or 1
    stacks = attribution.folded_stacks(trace, found, "pmm_alloc", position)
    title = f"Physical memory held at the peak by call chain ({plots.backend(trace)}, {when})"
    (Path(out_dir) / "flame.svg").write_text(flamegraph.svg(stacks, title), encoding="utf-8")
    (Path(out_dir) / "flame.folded").write_text(flamegraph.folded_text(stacks), encoding="utf-8")
    rows = "".join(f"<tr><td>{html.escape(format_bytes(h.bytes))}</td>"
                   f"<td>{100.0 * h.bytes / total:.1f}%</td><td>{h.allocations:,}</td>"
                   f"<td><code>{html.escape(h.site)}</code></td></tr>" for h in held[:top])
    owners = "".join(f"<tr><td>{html.escape(o.owner)}</td><td>{o.pages:,}</td>"
                     f"<td>{html.escape(format_bytes(o.pages * PAGE))}</td>"
                     f"<td>{o.allocations:,}</td></tr>"
                     for o in mmstat.owners_table(trace, position))
    return (f"<p>At the {html.escape(when)} ({html.escape(Path(trace.path).name)}). The same "
            f"tables at any moment: <code>python3 -m analyzer owners TRACE --at T</code>; what "
            f"is left at the end: <code>analyzer leaks</code>.</p>"
            "<table><tr><th>held</th><th>share</th><th>allocations</th><th>call site</th></tr>"
            + rows + "</table>" +
            (f"<p>{len(held) - top} more call sites hold the rest.</p>" if len(held) > top else "")
            + "<table><tr><th>owner</th><th>pages</th><th>bytes</th><th>allocations</th></tr>"
            + owners + "</table>"
            "<figure id='flame'><h3>Flame graph of the pages held at the peak</h3>"
            "<img src='flame.svg' alt='flame graph of physical memory at the peak'>"
            "<figcaption>Each box is a function, as wide as the memory held by allocations made "
            "under it; callers below, the allocator at the top; hover for the exact bytes. "
            "(<a href='flame.svg'>SVG</a>, <a href='flame.folded'>collapsed stacks</a> for "
            "flamegraph.pl or speedscope)</figcaption></figure>"
            "<p>The same allocations as a Perfetto heap profile: <a href='heap.pftrace'>"
            "heap.pftrace</a> (open it in ui.perfetto.dev; the process's heap profile track has "
            "a dump at the peak and one at the end of the trace, each a flame graph of the "
            "memory unreleased then, per allocator: physical pages, kmalloc, slab, virtual "
            "reservations; exact, nothing sampled).</p>")


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


def allocators_section(section_dir, out_dir):
    """Copies the allocator lab's section (what `analyzer allocators` wrote: pmm.html, pmm.md,
    plots) into out_dir/allocators/ and returns its HTML for index.html: the tables of pmm.md and
    a link to the whole section. A directory without pmm.md is refused (OSError names it)."""
    from .allocators import _html_table
    section_dir = Path(section_dir)
    markdown = (section_dir / "pmm.md").read_text(encoding="utf-8")
    shutil.copytree(section_dir, Path(out_dir) / "allocators")
    return ("<p>The same workload booted under every <code>pmm=</code> allocator "
            "(<code>make report-pmm</code>, copied from "
            f"<code>{html.escape(str(section_dir))}</code>); the plots and the comparison are in "
            "<a href='allocators/pmm.html'>the allocator section</a>.</p>" + _html_table(markdown))


def write_report(runs, out_dir, command_line, extra_files=(), workloads=(), programs=(),
                 allocators=None):
    """Writes index.html and the plots into out_dir (which exists and is empty); copies
    extra_files (traces) beside them and links them. `workloads`: (name, trace) pairs that feed
    only the verdict (measured_figures). `programs`: (program name, trace, series), one per
    program and backend, for the real-program section (analyzer/reports/program_report.py).
    `allocators`: a directory `analyzer allocators` wrote, included as a section
    (allocators_section)."""
    out_dir = Path(out_dir)
    figures_drawn = plots.draw_all(runs, out_dir)
    figures = headline_figures(runs)
    verdict_measured = verdict_figures.gather(measured_figures(runs, workloads))
    verdict_measured.fault_lookup = fault_lookup_figures(programs)
    figures_drawn += plots.draw_verdict_figures(verdict_measured, out_dir)
    for f in extra_files:
        shutil.copyfile(f, out_dir / Path(f).name)
    links = sorted(p.name for p in out_dir.iterdir() if p.suffix in (".pstrace", ".pftrace"))
    holders = holders_section(runs, out_dir)
    sections = [("what-ran", "What ran"), ("headline", "Headline figures"), ("plots", "Plots")]
    if holders:
        sections.insert(1, ("holders", "Who holds the memory at the peak"))
    if programs:
        sections.insert(-1, ("programs", "Real programs"))
    allocator_html = allocators_section(allocators, out_dir) if allocators else None
    if allocator_html:
        sections.insert(-1, ("allocators", "Physical allocators side by side"))
    if verdict_inputs_present(runs):
        sections.insert(0, ("verdict", "Verdict"))
    body = ["<h1>pagescope report</h1>",
            "<nav><b>Contents</b><ul>" + "".join(
                f"<li><a href='#{key}'>{title}</a></li>" for key, title in sections) +
            "".join(f"<li><a href='#{f.name}'>{html.escape(f.title)}</a></li>"
                    for f in figures_drawn) + "</ul></nav>"]
    if verdict_inputs_present(runs):
        body += ["<h2 id='verdict'>Verdict</h2>", verdict_section(verdict_measured, out_dir),
                 "<p>Where each figure comes from:</p>", provenance(runs)]
    body += ["<h2 id='what-ran'>What ran</h2>", _what_ran(runs, command_line)]
    if holders:
        body += ["<h2 id='holders'>Who holds the memory at the peak</h2>", holders]
    body += ["<h2 id='headline'>Headline figures</h2>", _headline_table(figures)]
    if programs:
        section, _ = program_report.program_section(programs, out_dir)
        body += ["<h2 id='programs'>Real programs</h2>", section]
    if allocator_html:
        body += ["<h2 id='allocators'>Physical allocators side by side</h2>", allocator_html]
    if links:
        body.append("<p>Traces (open a <code>.pftrace</code> in ui.perfetto.dev): " +
                    ", ".join(f"<a href='{html.escape(n)}'>{html.escape(n)}</a>" for n in links) +
                    "</p>")
    bench = REPO_ROOT / "results" / "bench"
    if bench.is_dir() and out_dir.resolve().parent == bench.parent:
        body.append("<p>Benchmarks (<code>make bench</code>: instruction counts per operation, "
                    "both backends): <a href='../bench/'>results/bench</a></p>")
    body.append("<h2 id='plots'>Plots</h2>")
    sources = figure_sources(runs, workloads)
    for fig in figures_drawn:
        body.append(f"<figure id='{fig.name}'><h3>{html.escape(fig.title)}</h3>"
                    f"<img src='{fig.name}.png' alt='{html.escape(fig.title)}'>"
                    f"<figcaption>{html.escape(fig.caption)} "
                    f"<i>Source: {html.escape(sources.get(fig.name, sources['traces']))}.</i> "
                    f"(<a href='{fig.name}.svg'>SVG</a>)</figcaption></figure>")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>pagescope report</title>"
            f"<style>{STYLE}</style></head><body>" + "\n".join(body) + "</body></html>\n")
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    return figures, verdict_measured
