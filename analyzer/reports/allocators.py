"""The allocator lab, side by side: the same scenario and seed booted under every `pmm=`
allocator (make report-pmm), each trace checked, then per allocator:

  - the unusable free space index per zone (order 9) and the largest free extent over the run,
    from the one replay `check` runs (analyzer/metrics/state.py), after every change: the free set follows
    from the events, whatever the allocator, so the same metric reads every trace;
  - allocation failures per zone request (pmm_alloc_fail by its `alloc_zone`);
  - the fragment scenario's largest run that succeeded per zone request (fragment_result);
  - pages held beyond the request: the sum of held - pages over every pmm_alloc (buddy rounds to a
    power of two), and the most held beyond the request by live allocations at any moment;
  - metadata pages: the most pages of owner mm-meta live at any moment (the allocator's own
    records and state);
  - guest instructions per pmm alloc+free pair (median, p99, worst) from the `pmm-pairs:` line a
    boot of scenario=pmm-pairs printed under icount (a separate boot: the pairs are timed one by
    one, with tracing off so the tracer's cost is not counted).

One plot per figure with one line or bar per allocator, and a table ranking them (rank 1 = best
per column; the overall rank orders the mean of the column ranks). Every figure names its source.

Real programs are a second workload (make report-pmm boots the programs of programs/runs.txt,
all in one boot, under every allocator: programs.pagescope --pmm; the workload is named
`programs`): per workload and allocator, from its checked trace, the refusals, the fragmentation (the lowest largest free extent and the highest unusable
index at order 9 over the run), the pages held beyond requests and the metadata pages, and from
the boot's `pmm-cost:` log line (kernel/core/memory.c) the guest instructions the kernel page
source's calls into the allocator took: exact under icount, every call, tracing included.
"""

import html
import re
from dataclasses import dataclass, field

import numpy as np

from ..definitions.events import FORMAT

COST_LINE = re.compile(r"pmm-cost: pmm=(\S+): (\d+) allocs in (\d+) ticks \(worst (\d+)\), "
                       r"(\d+) frees in (\d+) ticks \(worst (\d+)\)")
PAIRS_LINE = re.compile(r"pmm-pairs: pmm=(\S+): (\d+) pairs \((\d+) refused\): median (\d+), "
                        r"p99 (\d+), worst (\d+) guest instructions per pair")


def _owner_number(name):
    for number, text in FORMAT.values["owner"].items():
        if text == name:
            return number
    raise KeyError(name)


def allocator_of(trace):
    """The `pmm=` word of the trace's command line; `regions` (the default) when absent."""
    for word in trace.header.cmdline.split():
        if word.startswith("pmm="):
            return word[len("pmm="):]
    return "regions"


@dataclass
class LabFigures:
    allocator: str
    failures: dict = field(default_factory=dict)  # alloc_zone name -> refused allocations
    fragment_largest: dict = field(default_factory=dict)  # alloc_zone name -> pages
    held_beyond_total: int = 0
    held_beyond_peak: int = 0
    metadata_peak: int = 0
    allocations: int = 0
    pairs: tuple = None  # (pairs, refused, median, p99, worst) or None


def _peak_live(allocs, frees, value):
    """The largest sum of `value` over live allocations at any moment: +value at each alloc,
    -value at the free of the same address (allocs and frees: structured arrays of one owner
    selection, with position and addr)."""
    if not len(allocs):
        return 0
    live = {}
    events = sorted([(int(p), 0, int(a), int(v)) for p, a, v in
                     zip(allocs["position"], allocs["addr"], value(allocs))] +
                    [(int(p), 1, int(a), 0) for p, a in zip(frees["position"], frees["addr"])])
    total = peak = 0
    for _, is_free, addr, v in events:
        if is_free:
            total -= live.pop(addr, 0)
        else:
            live[addr] = v
            total += v
            peak = max(peak, total)
    return peak


def lab_figures(trace):
    zones = FORMAT.values["alloc_zone"]
    allocs, frees = trace.of("pmm_alloc"), trace.of("pmm_free")
    f = LabFigures(allocator_of(trace))
    fails = trace.of("pmm_alloc_fail")
    for number, name in zones.items():
        f.failures[name] = int((fails["alloc_zone"] == number).sum())
    for row in trace.of("fragment_result"):
        f.fragment_largest[zones.get(int(row["alloc_zone"]), str(row["alloc_zone"]))] = int(row["largest_pages"])
    beyond = allocs["held"].astype(np.int64) - allocs["pages"].astype(np.int64)
    f.allocations = len(allocs)
    f.held_beyond_total = int(beyond.sum())
    f.held_beyond_peak = _peak_live(allocs, frees, lambda a: a["held"].astype(np.int64) -
                                    a["pages"].astype(np.int64))
    meta = _owner_number("mm-meta")
    f.metadata_peak = _peak_live(allocs[allocs["owner"] == meta], frees[frees["owner"] == meta],
                                 lambda a: a["held"].astype(np.int64))
    return f


def read_pairs(paths):
    """{allocator: (pairs, refused, median, p99, worst)} from boot logs of scenario=pmm-pairs."""
    out = {}
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as log:
            for line in log:
                m = PAIRS_LINE.search(line)
                if m:
                    out[m.group(1)] = tuple(int(g) for g in m.groups()[1:])
    return out


# ---- real programs as a workload -------------------------------------------------------------

@dataclass
class ProgramFigures:
    program: str
    allocator: str
    refused: int
    largest_lowest: int  # pages: the lowest, over the run, of the largest free extent of any zone
    unusable_zone: str  # the zone with the most free pages at the first sample
    unusable_highest: float  # its unusable free space index at order 9, highest over the run
    held_beyond_peak: int
    metadata_peak: int
    cost: tuple = None  # (allocs, alloc ticks, worst alloc, frees, free ticks, worst free)

    def pair_mean(self):
        """Mean guest instructions of one alloc plus one free, or None when not measured."""
        if not self.cost or not self.cost[0] or not self.cost[3]:
            return None
        return self.cost[1] / self.cost[0] + self.cost[4] / self.cost[3]


def read_cost(path):
    """(allocator, allocs, alloc ticks, worst alloc, frees, free ticks, worst free) of the last
    `pmm-cost:` line of a kernel log, or None when it has none."""
    found = None
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            m = COST_LINE.search(line)
            if m:
                found = (m.group(1), *(int(g) for g in m.groups()[1:]))
    return found


def program_figures(program, trace, series, cost=None):
    """The lowest largest free extent and the highest order-9 unusable index (in the zone that
    held the most free pages at the pmm's first snapshot) over every change of the one replay's
    exact timeline (state.State), never a sample."""
    from ..pictures.plots import largest_free_steps
    lab = lab_figures(trace)
    zones = series.timeline.zones
    zone = max(zones, key=lambda z: int(zones[z].free_pages[0]) if len(zones[z].free_pages)
               else -1) if zones else "-"
    largest_lowest = int(largest_free_steps(series)[1].min()) if zones else 0
    unusable = zones[zone].unusable()[:, 9] if zones and len(zones[zone].free_pages) else None
    return ProgramFigures(
        program, lab.allocator, sum(lab.failures.values()), largest_lowest,
        zone, float(unusable.max()) if unusable is not None else 0.0,
        lab.held_beyond_peak, lab.metadata_peak, cost[1:] if cost else None)


def _programs_markdown(figures):
    lines = ["Real programs (programs/runs.txt; `programs`: all of them, one after another, in one "
             "boot), booted under every allocator (vmm=pagetable, QEMU icount, trace=on):", "",
             "| program | allocator | refused | largest free extent, lowest (pages) | unusable "
             "index at order 9, highest (zone) | held beyond requests, peak live (pages) | "
             "metadata peak (pages) | instructions per alloc + free, mean (alloc / free) | "
             "worst alloc / worst free |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for f in figures:
        if f.pair_mean() is None:
            cost, worst = "not measured", "not measured"
        else:
            cost = (f"{f.pair_mean():,.0f} ({f.cost[1] / f.cost[0]:,.0f} / "
                    f"{f.cost[4] / f.cost[3]:,.0f}; {f.cost[0]:,} allocs, {f.cost[3]:,} frees)")
            worst = f"{f.cost[2]:,} / {f.cost[5]:,}"
        lines.append(f"| {f.program} | {f.allocator} | {f.refused:,} | {f.largest_lowest:,} | "
                     f"{f.unusable_highest:.3f} ({f.unusable_zone}) | {f.held_beyond_peak:,} | "
                     f"{f.metadata_peak:,} | {cost} | {worst} |")
    lines += ["", "Instructions: the kernel page source's calls into the allocator (the TSC read "
              "around each page_alloc and page_free, kernel/core/memory.c), exact guest "
              "instructions under icount, every call of the boot (the program's and the kernel's "
              "own), the tracer's work included."]
    return "\n".join(lines) + "\n"


def _program_plot(figures, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..pictures import plots
    measured = [f for f in figures if f.pair_mean() is not None]
    if not measured:
        return None
    programs = list(dict.fromkeys(f.program for f in measured))
    allocators = list(dict.fromkeys(f.allocator for f in measured))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(allocators)
    x = np.arange(len(programs))
    for n, allocator in enumerate(allocators):
        got = {f.program: f.pair_mean() for f in measured if f.allocator == allocator}
        ax.bar(x + n * width, [got.get(p, 0) for p in programs], width,
               color=colors[n % len(colors)], label=allocator)
    ax.set_xticks(x + 0.4 - width / 2)
    ax.set_xticklabels(programs, fontsize=8)
    ax.set_title("Real programs: guest instructions per alloc + free (mean)")
    ax.set_ylabel("instructions")
    plots._legend(ax, fontsize=7)
    name = "pmm_program_instructions"
    plots._save(fig, out_dir, name)
    return plots.Figure(name, "Real programs: guest instructions per alloc + free",
                        "Per program, the mean guest instructions of one page_alloc plus one "
                        "page_free through the kernel page source under each allocator "
                        "(pmm-cost line, icount, every call, tracing included).")


# ---- where two traces under different allocators first diverge ---------------------------------

def pmm_requests(trace):
    """[(position, description tuple)] of the physical requests after the first pmm snapshot (the
    boot's reservations before it are listed in each allocator's own order) in stream order:
    each pmm_alloc and pmm_alloc_fail as (pages, align_log2, owner, outcome), each pmm_free as
    (pages, owner); the allocator's own metadata pages are left out (allocator-specific)."""
    meta = _owner_number("mm-meta")
    snapshots = [e.position for e in trace.others_named("pmm_snapshot")]
    start = min(snapshots) if snapshots else -1
    out = []
    for kind, outcome in (("pmm_alloc", "ok"), ("pmm_alloc_fail", "refused")):
        a = trace.of(kind)
        a = a[a["owner"] != meta]
        out += [(int(p), ("alloc", int(n), int(al), int(o), outcome)) for p, n, al, o in
                zip(a["position"], a["pages"], a["align_log2"], a["owner"])]
    a = trace.of("pmm_free")
    a = a[a["owner"] != meta]
    out += [(int(p), ("free", int(n), int(o))) for p, n, o in zip(a["position"], a["pages"],
                                                                   a["owner"])]
    out.sort()
    return [r for r in out if r[0] > start]


def _phase_at(trace, position):
    current = "boot"
    stack = []
    for e in trace.others_named("phase_begin", "phase_end"):
        if e.position > position:
            break
        if e.name == "phase_begin":
            stack.append(e.text)
        elif stack:
            stack.pop()
    return stack[-1] if stack else current


def _describe(request):
    owners = FORMAT.values["owner"]
    if request[0] == "alloc":
        _, pages, align, owner, outcome = request
        return (f"alloc of {pages} pages at 2^{align} for {owners.get(owner, owner)}: {outcome}")
    return f"free of {request[1]} pages of {owners.get(request[2], request[2])}"


def first_divergence(a, b):
    """None when both traces carry the same physical requests with the same outcomes, else
    (index, request of a or None, request of b or None, position in a, position in b)."""
    ra, rb = pmm_requests(a), pmm_requests(b)
    for n, (x, y) in enumerate(zip(ra, rb)):
        if x[1] != y[1]:
            return n, x[1], y[1], x[0], y[0]
    if len(ra) != len(rb):
        n = min(len(ra), len(rb))
        x, y = (ra[n] if n < len(ra) else None), (rb[n] if n < len(rb) else None)
        return n, x and x[1], y and y[1], x and x[0], y and y[0]
    return None


def write_allocator_comparison(a, b, out):
    """compare A B for traces under different allocators: where their request sequences first
    diverge (they may, once an allocation fails under one and not the other), then the lab's
    figures side by side."""
    fa, fb = lab_figures(a), lab_figures(b)
    out.write(f"allocators  {fa.allocator} ({a.path}) and {fb.allocator} ({b.path})\n")
    d = first_divergence(a, b)
    if d is None:
        out.write(f"requests    the same {len(pmm_requests(a))} physical requests with the same "
                  f"outcomes under both\n")
    else:
        n, x, y, pa, pb = d
        out.write(f"requests    identical up to request {n}; there they diverge:\n")
        for f, trace, r, p in ((fa, a, x, pa), (fb, b, y, pb)):
            where = (f"record {p} (offset {int(trace.offsets[p])}), phase {_phase_at(trace, p)}"
                     if p is not None else "after its last request")
            out.write(f"  {f.allocator:<10} {_describe(r) if r else 'no further request'}"
                      f" at {where}\n")
    rows = [("allocations (pmm_alloc)", "allocations"),
            ("pages held beyond requests (sum)", "held_beyond_total"),
            ("pages held beyond requests (peak live)", "held_beyond_peak"),
            ("metadata pages (peak live)", "metadata_peak")]
    for label, attr in rows:
        out.write(f"{label:<40} {getattr(fa, attr):>12} {getattr(fb, attr):>12}\n")
    for zone in fa.failures:
        out.write(f"{'refused, zone request ' + zone:<40} {fa.failures[zone]:>12} "
                  f"{fb.failures.get(zone, 0):>12}\n")


# ---- the section ------------------------------------------------------------------------------

COLUMNS = (  # (key, heading, better: -1 lower, +1 higher)
    ("failures", "allocations refused (all zone requests)", -1),
    ("fragment", "fragment: largest run, any zone (pages)", +1),
    ("held_beyond_peak", "pages held beyond requests (peak live)", -1),
    ("metadata_peak", "metadata pages (peak)", -1),
    ("pair_median", "instructions per pair (median)", -1),
    ("pair_p99", "instructions per pair (p99)", -1),
)


def _column_values(f):
    pairs = f.pairs or (None,) * 5
    return {"failures": sum(f.failures.values()), "fragment": f.fragment_largest.get("any"),
            "held_beyond_peak": f.held_beyond_peak, "metadata_peak": f.metadata_peak,
            "pair_median": pairs[2], "pair_p99": pairs[3]}


def ranking(figures):
    """[(allocator, {column: (value, rank)}, mean rank)] sorted by mean rank; a missing value
    gets no rank and does not count in the mean."""
    values = {f.allocator: _column_values(f) for f in figures}
    ranks = {name: {} for name in values}
    for key, _, better in COLUMNS:
        present = sorted((v[key] * -better, name) for name, v in values.items()
                         if v[key] is not None)
        for name, v in values.items():
            ranks[name][key] = (v[key], None)
        for position, (score, name) in enumerate(present):
            tied = next(i for i, (s, _) in enumerate(present) if s == score)
            ranks[name][key] = (values[name][key], tied + 1)
    rows = []
    for name in values:
        got = [r for _, r in ranks[name].values() if r is not None]
        rows.append((name, ranks[name], sum(got) / len(got) if got else float("inf")))
    rows.sort(key=lambda r: r[2])
    return rows


def _plots(runs, figures, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..pictures import plots
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    made = []

    def save(fig, name, title, caption):
        plots._save(fig, out_dir, name)
        made.append(plots.Figure(name, title, caption))

    zones = []
    for _, series in runs:
        zones += [z for z in plots.present_zones(series) if z not in zones]
    fig, axes = plt.subplots(len(zones) or 1, 1, figsize=(9, 2.6 * max(1, len(zones))),
                             squeeze=False)
    x_end = plots._x_end(runs)
    for ax, zone in zip(axes[:, 0], zones):
        for n, (trace, series) in enumerate(runs):
            z = series.timeline.zones.get(zone)
            if z is not None:
                plots._envelope_line(ax, trace, z.positions, z.unusable()[:, 9], x_end,
                                     color=colors[n % len(colors)], linewidth=1,
                                     label=allocator_of(trace))
        ax.set_title(f"Unusable free space index at order 9 (2 MiB), zone {zone}")
        ax.set_xlabel("workload requests issued (thousands)")
        ax.set_ylabel("unusable index (0-1)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, x_end)
        plots._legend(ax, fontsize=7)
    save(fig, "pmm_unusable_index", "Unusable free space index per zone, every allocator",
         "Linux's unusable free space index for a 2 MiB request per zone over the same workload, "
         "one line per pmm= allocator (the free set replayed from each trace, recomputed after "
         "every allocation and free; each pixel column spans its lowest to highest value).")

    fig, ax = plt.subplots(figsize=(9, 3.6))
    for n, (trace, series) in enumerate(runs):
        if series.timeline.zones:
            positions, largest = plots.largest_free_steps(series)
            plots._envelope_line(ax, trace, positions, largest * plots.PAGE / 2**20, x_end,
                                 color=colors[n % len(colors)], linewidth=1,
                                 label=allocator_of(trace))
    ax.set_title("Largest free extent over the run, every allocator")
    ax.set_xlabel("workload requests issued (thousands)")
    ax.set_ylabel("largest free extent (MiB)")
    ax.set_xlim(0, x_end)
    plots._legend(ax)
    save(fig, "pmm_largest_free", "Largest free extent, every allocator",
         "The longest physically contiguous free extent after every change (replayed free set; "
         "each pixel column spans its lowest to highest value), one line per allocator. A buddy allocator may still refuse a run this long (its largest "
         "block is 2^10 pages).")

    def bars(name, title, ylabel, groups, caption, log=False):
        fig, ax = plt.subplots(figsize=(9, 3.6))
        keys = sorted({k for f in figures for k in groups(f)}, key=str)
        width = 0.8 / max(1, len(figures))
        x = np.arange(len(keys))
        for n, f in enumerate(figures):
            g = groups(f)
            ax.bar(x + n * width, [g.get(k, 0) for k in keys], width,
                   color=colors[n % len(colors)], label=f.allocator)
        ax.set_xticks(x + 0.4 - width / 2)
        ax.set_xticklabels([str(k) for k in keys])
        if log:
            ax.set_yscale("symlog")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        plots._legend(ax, fontsize=7)
        save(fig, name, title, caption)

    bars("pmm_fragment_largest", "Fragment scenario: largest run that succeeded per zone request",
         "pages", lambda f: f.fragment_largest,
         "After the fragment scenario frees its pattern, the largest run each zone request still "
         "got (fragment_result events), per allocator.", log=True)
    bars("pmm_failures", "Allocations refused per zone request", "refused allocations",
         lambda f: f.failures, "pmm_alloc_fail events by the zones the request allowed.",
         log=True)
    bars("pmm_waste_metadata", "Pages held beyond requests and metadata pages", "pages",
         lambda f: {"held beyond requests (sum)": f.held_beyond_total,
                    "held beyond requests (peak live)": f.held_beyond_peak,
                    "metadata (peak live)": f.metadata_peak},
         "From pmm_alloc's held - pages (summed over the run, and the most at once among live "
         "allocations) and the live pages of owner mm-meta.", log=True)
    if any(f.pairs for f in figures):
        bars("pmm_pair_instructions", "Guest instructions per alloc+free pair", "instructions",
             lambda f: {"median": f.pairs[2], "p99": f.pairs[3], "worst": f.pairs[4]}
             if f.pairs else {},
             "scenario=pmm-pairs under icount with trace=off: each pair timed by the TSC, which "
             "counts guest instructions (exact, every pair, not sampled).", log=True)
    return made


def _table_markdown(figures, command):
    lines = [f"Command: `{command}`", "",
             "| allocator | " + " | ".join(h for _, h, _ in COLUMNS) + " | mean rank |",
             "|---|" + "---:|" * (len(COLUMNS) + 1)]
    for name, cells, mean in ranking(figures):
        row = [f"{v:,} ({r})" if v is not None else "n/a" for v, r in
               (cells[k] for k, _, _ in COLUMNS)]
        lines.append(f"| {name} | " + " | ".join(row) + f" | {mean:.2f} |")
    lines += ["", "Rank in parentheses, 1 = best in the column (fewer refusals, a longer fragment "
              "run, less held beyond requests, less metadata, fewer instructions).", "",
              "| allocator | refused per zone request | fragment largest run per zone request "
              "(pages) | held beyond requests: sum / peak live (pages) | metadata peak (pages) "
              "| pairs: median / p99 / worst (instructions) |", "|---|---|---|---|---|---|"]
    for f in figures:
        pairs = (f"{f.pairs[2]:,} / {f.pairs[3]:,} / {f.pairs[4]:,} ({f.pairs[0]:,} pairs, "
                 f"{f.pairs[1]} refused)" if f.pairs else "not measured")
        lines.append(
            f"| {f.allocator} | " + ", ".join(f"{z} {n:,}" for z, n in f.failures.items()) +
            " | " + ", ".join(f"{z} {n:,}" for z, n in f.fragment_largest.items()) +
            f" | {f.held_beyond_total:,} / {f.held_beyond_peak:,} | {f.metadata_peak:,} | "
            f"{pairs} |")
    return "\n".join(lines) + "\n"


def _html_table(markdown):
    out, in_table = [], False
    for line in markdown.splitlines():
        if line.startswith("|---"):
            continue
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            tag = "th" if not in_table else "td"
            out.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            if not in_table:
                out.insert(len(out) - 1, "<table>")
            in_table = True
        else:
            if in_table:
                out.append("</table>")
                in_table = False
            if line:
                out.append(f"<p>{html.escape(line.replace('`', ''))}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out)


def write_section(runs, pairs, out_dir, command, programs=()):
    """Writes pmm.html, pmm.md and the plots into out_dir; returns the figures. `programs`:
    ProgramFigures of the real-program workload (program_figures), in the order to show."""
    figures = [lab_figures(trace) for trace, _ in runs]
    for f in figures:
        f.pairs = pairs.get(f.allocator)
    made = _plots(runs, figures, out_dir)
    markdown = _table_markdown(figures, command)
    if programs:
        markdown += "\n" + _programs_markdown(programs)
        plot = _program_plot(programs, out_dir)
        if plot:
            made.append(plot)
    (out_dir / "pmm.md").write_text(markdown)
    body = [f"<section id='allocators'><h2>Physical allocators side by side</h2>",
            "<p>The same scenario and seed booted under every pmm= allocator (VMM backend fixed); "
            "each trace passed analyzer check. What ran (each trace's kernel command line and the "
            "memory its header reports):</p><ul>"] + [
            f"<li>{html.escape(trace.header.cmdline)}: {trace.header.memory_bytes >> 20} MiB</li>"
            for trace, _ in runs] + ["</ul>", _html_table(markdown)]
    for fig in made:
        body.append(f"<figure id='{fig.name}'><img src='{fig.name}.png' alt='{fig.title}'>"
                    f"<figcaption><b>{fig.title}.</b> {fig.caption}</figcaption></figure>")
    body.append("</section>")
    (out_dir / "pmm.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>pagescope: physical allocators"
        "</title><style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;"
        "font-size:13px}img{max-width:100%}</style></head><body>" + "\n".join(body) +
        "</body></html>\n")
    return figures
