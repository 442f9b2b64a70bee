"""The report's figures (matplotlib, Agg backend), each saved as PNG and SVG, titled, with labelled
axes and units. Every function takes `runs`: [(BulkTrace, state.State)], one per traced boot
(normally the pagetable and list backends on the same workload), and returns a Figure record
with the caption the report prints under it."""

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from ..metrics import counters, progress, timeline  # noqa: E402

from ..definitions import progressbar
from ..definitions.events import FORMAT  # noqa: E402
from ..metrics.frag import ORDERS, region_name  # noqa: E402
from ..checking.replay import PAGE, zone_ranges  # noqa: E402
from ..definitions.units import BINARY_UNITS, format_bytes, natural_key  # noqa: E402

# Line colour and style per VMM backend, by its value in events.def (0 = pagetable, 1 = list).
BACKEND_STYLES = [("tab:blue", "-"), ("tab:orange", "--"), ("tab:green", "-.")]
# Pixel columns of a line plot's envelope (about the axes' width in pixels at the PNG's dpi).
ENVELOPE_COLUMNS = 800


@dataclass
class Figure:
    name: str  # file stem
    title: str
    caption: str


def backend(trace):
    return trace.header.value_name("vmm_backend")


def _style(trace):
    return BACKEND_STYLES[trace.header.vmm_backend % len(BACKEND_STYLES)]


# The x-axis of every plot over a run: the workload's requests so far (progress.py), the same
# under both backends, so their lines can be compared point by point (their clocks drift apart:
# one backend takes more instructions for the same requests).
PROGRESS_LABEL = "workload requests issued (thousands; the same under both backends)"


def _progress_k(trace, positions):
    return progress.requests_issued(trace, positions) / 1000


def _mark_members(ax, runs):
    """Dotted lines where each member workload of a composite scenario (all: kheap, procs, dma,
    fragment) begins, named at the top of the axes."""
    trace = runs[0][0]
    for i, (name, first, _) in enumerate(progress.member_phases(trace)):
        x = _progress_k(trace, [first])[0]
        ax.axvline(x, color="grey", linestyle=":", linewidth=0.8)
        ax.text(x, 1.0 - 0.07 * (i % 2), f" {name}", transform=ax.get_xaxis_transform(),
                fontsize=7, color="grey", va="top", ha="left")  # staggered: short phases


def _legend(ax, **options):
    """A legend when the axes have labelled lines (a trace may have nothing to draw)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**options)


def _save(fig, out_dir, name):
    """PNG and SVG, each the same bytes for the same figure: no date in the SVG's metadata and
    its element ids hashed with a fixed salt (matplotlib's default salt is random per run), so
    two reports of the same traces can be compared byte for byte."""
    fig.tight_layout()
    fig.savefig(out_dir / f"{name}.png", dpi=110)
    with plt.rc_context({"svg.hashsalt": "pagescope"}):
        fig.savefig(out_dir / f"{name}.svg", metadata={"Date": None})
    plt.close(fig)


def present_zones(series):
    return series.timeline.present_zones()


def _x_end(runs):
    """The right end of the shared x-axis: the most requests any run issued."""
    return max(float(_progress_k(trace, [len(trace.headers)])[0]) for trace, _ in runs) or 1.0


def _envelope_line(ax, trace, positions, values, x_end, **style):
    """A step series drawn exactly: in each pixel column, a stroke from the lowest to the highest
    value it took there (timeline.envelope), so a minimum held for one event still shows."""
    centres, low, high = timeline.envelope(_progress_k(trace, positions), values, 0.0, x_end,
                                           ENVELOPE_COLUMNS)
    ax.plot(np.repeat(centres, 2), np.column_stack([low, high]).ravel(), **style)


def unusable_index(runs, out_dir):
    zones = []
    for _, series in runs:
        zones += [z for z in present_zones(series) if z not in zones]
    if not zones:
        return None
    x_end = _x_end(runs)
    fig, axes = plt.subplots(len(zones), 1, figsize=(9, 2.6 * len(zones)), squeeze=False)
    for ax, zone in zip(axes[:, 0], zones):
        for trace, series in runs:
            z = series.timeline.zones.get(zone)
            if z is None:
                continue
            color, line = _style(trace)
            unusable = z.unusable()
            for order, alpha in ((9, 1.0), (3, 0.45)):
                _envelope_line(ax, trace, z.positions, unusable[:, order], x_end, color=color,
                               linestyle=line, alpha=alpha, linewidth=1,
                               label=f"{backend(trace)}, order {order}")
        ax.set_title(f"Unusable free space index, zone {zone}")
        _mark_members(ax, runs)
        ax.set_xlabel(PROGRESS_LABEL)
        ax.set_ylabel("unusable index (0-1)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, x_end)
        _legend(ax, fontsize=7, loc="center left")
    _save(fig, out_dir, "unusable_index")
    return Figure("unusable_index", "Unusable free space index over the run",
                  "Linux's unusable free space index per zone (orders 9 and 3, both backends), "
                  "recomputed after every allocation and free; each pixel column spans the "
                  "lowest to the highest value of its requests. The higher the line, the more "
                  "free memory is useless for a 2 MiB (order 9) or 32 KiB (order 3) request.")


def buddy_heatmap(runs, out_dir, columns=600):
    trace, series = runs[0]
    zones = present_zones(series)
    if not zones:
        return None
    x_end = _x_end(runs[:1])
    edges = np.linspace(0.0, x_end, columns + 1)
    fig, axes = plt.subplots(len(zones), 1, figsize=(9, 2.6 * len(zones)), squeeze=False)
    for ax, zone in zip(axes[:, 0], zones):
        z = series.timeline.zones[zone]
        blocks = heatmap_columns(_progress_k(trace, z.positions), z.blocks, edges).T
        image = ax.pcolormesh(edges, np.arange(len(ORDERS) + 1) - 0.5,
                              np.log10(blocks.astype(np.float64) + 1), cmap="viridis",
                              shading="flat")
        ax.set_title(f"Free blocks by order (buddyinfo view), zone {zone}, {backend(trace)}")
        _mark_members(ax, runs[:1])
        ax.set_xlabel(PROGRESS_LABEL)
        ax.set_ylabel("order (2^order pages)")
        ax.set_yticks(ORDERS[::2])
        fig.colorbar(image, ax=ax, label="log10(blocks + 1)")
    _save(fig, out_dir, "buddy_heatmap")
    return Figure("buddy_heatmap", "Free extents by order over the run",
                  "Free memory decomposed into aligned power-of-two blocks as Linux's buddy "
                  f"allocator would hold it, as it stood at the end of each of {columns} equal "
                  "spans of requests; bright low rows and dark high rows mean fragmented.")


def heatmap_columns(x, rows, edges):
    """(columns, ...) of `rows` (a step series: rows[i] holds from x[i] on, x sorted): for each
    column [edges[k], edges[k + 1]), the row in force at its right edge, found by x itself (a
    row's rank among the rows says nothing about where it lies); 0 before the first row."""
    row = np.searchsorted(x, edges[1:], side="right") - 1
    shape = (-1,) + (1,) * (rows.ndim - 1)
    return np.where((row >= 0).reshape(shape), rows[np.maximum(row, 0)], 0)


def _live_allocations(trace):
    """(alloc positions, free positions or +inf, addr, pages held, owner) of every pmm
    allocation (held: the run the allocator keeps, its rounding included)."""
    allocs, frees = trace.of("pmm_alloc"), trace.of("pmm_free")
    addr = np.concatenate([allocs["addr"], frees["addr"]])
    position = np.concatenate([allocs["position"], frees["position"]])
    is_alloc = np.concatenate([np.ones(len(allocs), bool), np.zeros(len(frees), bool)])
    order = np.lexsort((position, addr))
    addr, position, is_alloc = addr[order], position[order], is_alloc[order]
    freed_at = np.full(len(addr), np.iinfo(np.int64).max)
    follows = (addr[1:] == addr[:-1]) & is_alloc[:-1] & ~is_alloc[1:]
    freed_at[:-1][follows] = position[1:][follows]
    index = np.flatnonzero(is_alloc)
    source = order[index]  # rows of `allocs`
    return (allocs["position"][source], freed_at[index], allocs["addr"][source],
            allocs["held"][source], allocs["owner"][source])


def strip_moments(trace, series):
    """[(position, label)] the physical map shows, in stream order: the end of every stage of a
    workload (a phase named "workload:stage"; every phase end when there is none), and the moment
    each member workload (or the whole run) held the most pages, so no peak is left out."""
    ends = [(p, name) for p, name, _ in series.phase_ends]
    stages = [(p, name) for p, name in ends if ":" in name] or ends
    free = _total_free(series.timeline)
    moments = list(stages)
    if free is not None:
        positions, pages = free
        spans = [(name, first, last) for name, first, last in progress.member_phases(trace)]
        spans = spans or [(progress.workload_name(trace), 0, int(positions[-1]) + 1)]
        for name, first, last in spans:
            inside = np.flatnonzero((positions >= first) & (positions <= last))
            if len(inside):
                at = inside[np.argmin(pages[inside])]
                moments.append((int(positions[at]) + 1, f"{name}: peak use"))
    return sorted(set(moments))


def _total_free(line):
    """(positions, free pages over all zones after each) from a Timeline, or None."""
    zones = list(line.zones.values())
    if not zones:
        return None
    positions = np.unique(np.concatenate([z.positions for z in zones]))
    total = sum(z.free_pages[np.maximum(np.searchsorted(z.positions, positions, side="right")
                                        - 1, 0)] for z in zones)
    return positions, total


# Owner colours: distinct, and none of the two backend colours (blue, orange) nor the grey of
# free memory, so a colour never means a backend in one plot and an owner in another.
OWNER_PALETTE = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (0, 1, 2, 3,
                                                                                      14, 15)]
FREE_COLOUR, UNTRACED_COLOUR = (0.86, 0.86, 0.86), (1.0, 1.0, 1.0)


def memory_strip(runs, out_dir, width=1200):
    trace, series = runs[0]
    moments = strip_moments(trace, series)
    if not moments:
        return None
    alloc_at, freed_at, addr, pages, owner = _live_allocations(trace)
    snapshots = trace.others_named("pmm_snapshot")
    high = max([int((addr + pages * PAGE).max()) if len(addr) else 0] +
               [int(e.items["addr"][-1] + e.items["pages"][-1] * PAGE) for e in snapshots
                if len(e.items)] + [PAGE])
    total_pages = -(-high // PAGE)
    owners = sorted(FORMAT.values["owner"])
    free_code, untraced_code = len(owners), len(owners) + 1
    palette = [OWNER_PALETTE[i % len(OWNER_PALETTE)] for i in range(len(owners))] + \
        [FREE_COLOUR, UNTRACED_COLOUR]
    pixel_of_page = np.arange(total_pages, dtype=np.int64) * width // total_pages
    image = np.zeros((len(moments), width), dtype=np.int64)
    for row, (position, _) in enumerate(moments):
        # owner of every page: free per the replay, else the owner of a live allocation, else
        # untraced (never handed to the pmm)
        page_owner = np.where(_free_pages(trace, position, total_pages), free_code,
                              untraced_code)
        live = (alloc_at < position) & (freed_at >= position)
        first = (addr[live] // PAGE).astype(np.int64)
        delta = np.zeros(total_pages + 1, dtype=np.int64)
        np.add.at(delta, first, owner[live].astype(np.int64) - untraced_code)
        np.add.at(delta, first + pages[live].astype(np.int64),
                  untraced_code - owner[live].astype(np.int64))
        page_owner += np.cumsum(delta[:-1])
        # each pixel shows the owner of most of its pages: true proportions at this resolution
        counts = np.bincount(pixel_of_page * len(palette) + page_owner,
                             minlength=width * len(palette)).reshape(width, len(palette))
        image[row] = counts.argmax(axis=1)
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(image) + 2.0))
    ax.imshow(image, aspect="auto", interpolation="nearest",
              cmap=ListedColormap(palette), vmin=-0.5, vmax=len(palette) - 0.5,
              extent=(0, high / 2**20, len(image) - 0.5, -0.5))
    zones = zone_bounds(snapshots[0]) if snapshots else []
    for name, end in zones:
        if end < high:
            ax.axvline(end / 2**20, color="black", linestyle="--", linewidth=0.8)
            ax.text(end / 2**20, -0.5, f" {name} ends", fontsize=7, va="bottom")
    ax.set_yticks(range(len(moments)))
    ax.set_yticklabels([label for _, label in moments], fontsize=7)
    ax.set_xlabel(f"physical address (MiB; one pixel = {format_bytes(high / width)})")
    ax.set_ylabel("moment")
    ax.set_title(f"Physical memory by owner ({backend(trace)})", pad=14)
    used = sorted(set(np.unique(image).tolist()))
    handles = [Patch(facecolor=palette[i], edgecolor="black", linewidth=0.5,
                     label=(FORMAT.values["owner"][owners[i]] if i < len(owners) else
                            "free" if i == free_code else "not traced"))
               for i in used]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title="owner", title_fontsize=7)
    _save(fig, out_dir, "memory_strip")
    return Figure("memory_strip", "Physical memory by owner",
                  "Each row is physical memory at one moment (every stage end, and each "
                  "workload's moment of peak use), coloured by the owner of most pages under "
                  "each pixel (grey: free); dashed lines are zone ends. Many thin grey gaps "
                  "between used runs is fragmentation.")


def zone_bounds(snapshot):
    """[(zone name, end byte)] of a pmm snapshot's zones (replay.zone_ranges)."""
    return [(name, high) for name, _, high in zone_ranges(snapshot)]


def _free_pages(trace, position, total_pages):
    """Which of the first total_pages pages are free just before record `position`: the first
    pmm snapshot's free extents with every pmm_alloc and pmm_free since applied (a page is free
    when its count of free runs covering it is positive). All False before that snapshot."""
    snapshots = trace.others_named("pmm_snapshot")
    count = np.zeros(total_pages + 1, dtype=np.int64)
    if not snapshots or position <= snapshots[0].position:
        return count[:-1] > 0
    first = snapshots[0]
    a = (first.items["addr"] // PAGE).astype(np.int64)
    np.add.at(count, a, 1)
    np.add.at(count, a + first.items["pages"].astype(np.int64), -1)
    for name, sign in (("pmm_alloc", -1), ("pmm_free", 1)):
        e = trace.of(name)
        e = e[(e["position"] > first.position) & (e["position"] < position)]
        a = (e["addr"] // PAGE).astype(np.int64)
        np.add.at(count, a, sign)
        np.add.at(count, a + e["held"].astype(np.int64), -sign)
    return np.cumsum(count)[:-1] > 0
def bookkeeping(runs, out_dir):
    if all(counters.bookkeeping_totals(trace) is None for trace, _ in runs):
        return None
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for trace, _ in runs:
        color, line = _style(trace)
        totals = counters.bookkeeping_totals(trace)
        if totals is None:
            continue
        positions, total = totals
        ax.step(_progress_k(trace, positions), total / 1024, line, where="post", color=color,
                label=backend(trace))
    ax.set_title("VMM bookkeeping memory over the run (all contexts)")
    _mark_members(ax, runs)
    ax.set_xlabel(PROGRESS_LABEL)
    ax.set_ylabel("bookkeeping (KiB)")
    _legend(ax)
    _save(fig, out_dir, "bookkeeping_bytes")
    return Figure("bookkeeping_bytes", "Bookkeeping bytes: page-table vs list",
                  "Memory each backend needs for its bookkeeping, as the kernel reports it at "
                  "every snapshot: page-table = table pages that hold reservations and map nothing; "
                  "list = its state and record pages.")


def work_distribution(runs, out_dir):
    if not any(len(trace.of(kind)) for trace, _ in runs for kind in ("vmm_reserve",
                                                                     "vmm_release")):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, kind in zip(axes, ("vmm_reserve", "vmm_release")):
        for trace, _ in runs:
            color, line = _style(trace)
            work = np.sort(trace.of(kind)["work"].astype(np.int64))
            if len(work):
                ax.plot(np.maximum(work, 1), np.arange(1, len(work) + 1) / len(work), line,
                        color=color, drawstyle="steps-post", label=backend(trace))
        ax.set_xscale("log")
        _log_count_axis(ax.xaxis)
        ax.set_title(f"Work per {kind.split('_')[1]}")
        ax.set_xlabel("entries or records visited (log)")
        ax.set_ylabel("fraction of operations (CDF)")
        _legend(ax)
    _save(fig, out_dir, "work")
    return Figure("work", "Work per reserve and release",
                  "Cumulative distribution of the entries (page-table) or records (list) each "
                  "operation visited: the curve further left does less work; its top right is "
                  "the worst case.")


def _bytes_ticks(axis):
    """Tick labels in one binary unit (that of the largest tick) with as many decimals as the
    tick spacing needs, so neighbouring ticks never print the same text ("31 GiB" four times)."""
    def label(value, _):
        ticks = [t for t in axis.get_ticklocs() if t > 0] or [abs(value) or 1]
        unit = 0
        while max(ticks) >= 1024 ** (unit + 1) and unit < len(BINARY_UNITS) - 1:
            unit += 1
        scale = 1024 ** unit
        step = min((b - a for a, b in zip(ticks, ticks[1:]) if b > a), default=scale) / scale
        decimals = max(0, min(6, -int(np.floor(np.log10(step))) if step < 1 else 0))
        return f"{value / scale:,.{decimals}f} {BINARY_UNITS[unit]}" if value >= 0 else ""
    axis.set_major_formatter(FuncFormatter(label))


def _log_count_axis(axis):
    """A log axis of counts labelled at 1, 2, 5 times each power of ten, with thousands
    separators, so even a span of one decade has several labelled ticks."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=40))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _log_bytes_axis(axis):
    """A log axis of byte sizes with a labelled tick at every power of 2^10 that it spans and
    human units on each (4 KiB, 2 MiB, 4 TiB), never a single label."""
    axis.set_major_locator(LogLocator(base=2, subs=(1.0,), numticks=60))
    axis.set_major_formatter(FuncFormatter(lambda v, _: format_bytes(v) if v > 0 else ""))
    axis.set_minor_formatter(NullFormatter())


def virtual_holes(runs, out_dir):
    keys = sorted({(h.context, h.region) for _, series in runs for h in series.timeline.holes
                   if h.context == 0})
    if not keys:
        return None
    x_end = _x_end(runs)
    fig, axes = plt.subplots(len(keys), 2, figsize=(10, 1.9 * len(keys) + 0.8), squeeze=False,
                             sharex=True)
    for row, key in enumerate(keys):
        count_ax, hole_ax = axes[row]
        for trace, series in runs:
            color, line = _style(trace)
            for h in series.timeline.holes:
                if (h.context, h.region) != key:
                    continue
                style = dict(color=color, linestyle=line, linewidth=1, alpha=0.85,
                             label=backend(trace) if h.life == 0 else None)
                _envelope_line(count_ax, trace, h.positions, h.ranges, x_end, **style)
                _envelope_line(hole_ax, trace, h.positions, np.maximum(h.largest, 1) * PAGE,
                               x_end, **style)
        count_ax.set_ylabel("free ranges", fontsize=8)
        count_ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5, min_n_ticks=1))
        hole_ax.set_ylabel("largest hole", fontsize=8)
        hole_ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 4, 5, 8, 10]))
        _bytes_ticks(hole_ax.yaxis)
        for ax in (count_ax, hole_ax):
            ax.set_title(region_name(*key), fontsize=9, loc="left")
            ax.set_xlim(0, x_end)
            ax.tick_params(labelsize=7)
            _mark_members(ax, runs)
        if row == 0:
            _legend(count_ax, fontsize=7, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel(PROGRESS_LABEL, fontsize=8)
    fig.suptitle("Kernel virtual address space per region: free ranges and largest hole")
    _save(fig, out_dir, "virtual_holes")
    return Figure("virtual_holes", "Virtual address space: free ranges and largest hole",
                  "One row per region of the kernel context, both backends, after every "
                  "reservation and release (pixel columns span their lowest to highest value): "
                  "they place every request at the same address, so the lines must coincide; a "
                  "rising count of ranges with a falling largest hole is virtual fragmentation.")


def virtual_space(runs, out_dir, width=1600):
    """Each region of the kernel context at the end of the trace: reserved (coloured) and free
    (white) across the span from its lowest to its highest free or reserved address."""
    trace, series = runs[0]
    keys = sorted(k for k in series.final_virtual if k[0] == 0)
    if not keys:
        return None
    reserves = trace.of("vmm_reserve")
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(keys) + 1.4))
    image = np.zeros((len(keys), width), dtype=np.int8)
    labels = []
    for row, key in enumerate(keys):
        free = series.final_virtual[key]
        mine = reserves[(reserves["context"] == key[0]) & (reserves["region"] == key[1])]
        low = min([s for s, _ in free] + [int(a) for a in mine["addr"].tolist()])
        high = max([e for _, e in free] + [int(a) + int(p) * PAGE for a, p in
                                           zip(mine["addr"].tolist(), mine["pages"].tolist())])
        scale = width / max(high - low, 1)
        reserved = zip([low] + [e for _, e in free], [s for s, _ in free] + [high])
        for start, end in reserved:  # the gaps between free runs, visible however small
            if end > start:
                lo = int((start - low) * scale)
                image[row, lo:max(lo + 4, int((end - low) * scale))] = 1
        labels.append(f"{region_name(*key)} ({format_bytes(high - low)})")
    ax.imshow(image, aspect="auto", interpolation="nearest", vmin=0, vmax=1,
              cmap=ListedColormap([(1, 1, 1), (0.17, 0.45, 0.7)]), extent=(0, 100, len(image) - 0.5,
                                                                            -0.5))
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("position in the region's used span (% of its bytes)")
    ax.set_title(f"Kernel virtual address space by region at the end ({backend(trace)}); "
                 "blue = reserved")
    _save(fig, out_dir, "virtual_space")
    return Figure("virtual_space", "Virtual address space per region",
                  "Each kernel region at the end of the trace: blue is reserved, white is free; "
                  "white gaps inside blue are holes a large reservation cannot use. A reserved "
                  "run is drawn at least 4 pixels wide.")


def largest_free_steps(series):
    """(positions, pages): after every change, the largest free extent of any zone."""
    zones = list(series.timeline.zones.values())
    positions = np.unique(np.concatenate([z.positions for z in zones]))
    largest = np.max([z.largest[np.maximum(np.searchsorted(z.positions, positions,
                                                           side="right") - 1, 0)]
                      for z in zones], axis=0)
    return positions, largest


def largest_free(runs, out_dir):
    if not all(series.timeline.zones for _, series in runs):
        return None
    x_end = _x_end(runs)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for trace, series in runs:
        color, line = _style(trace)
        positions, largest = largest_free_steps(series)
        _envelope_line(ax, trace, positions, largest * PAGE / 2**20, x_end, color=color,
                       linestyle=line, linewidth=1,
                       label=f"{backend(trace)} (lowest: {format_bytes(int(largest.min()) * PAGE)})")
    ax.set_title("Largest contiguous physical run that would succeed")
    _mark_members(ax, runs)
    ax.set_xlabel(PROGRESS_LABEL)
    ax.set_ylabel("largest free extent (MiB)")
    ax.set_xlim(0, x_end)
    _legend(ax)
    _save(fig, out_dir, "largest_free")
    return Figure("largest_free", "Largest free extent over the run",
                  "The longest physically contiguous allocation that could succeed, after every "
                  "allocation and free; each pixel column spans the lowest to the highest value "
                  "of its requests, so the worst moment is drawn: drops show memory being cut up.")


def fragment_result(runs, out_dir):
    """The fragment scenario's probes: per zone request, the largest run that still succeeded
    beside the largest free extent and all free pages, per backend. None when no run has them."""
    if not any(len(trace.of("fragment_result")) for trace, _ in runs):
        return None
    fig, ax = plt.subplots(figsize=(9, 4.0))
    names = FORMAT.values["alloc_zone"]
    width = 0.8 / (3 * max(1, len(runs)))
    for n, (trace, _) in enumerate(runs):
        color, _ = _style(trace)
        results = trace.of("fragment_result")
        x = np.arange(len(results))
        for k, (field_name, alpha, label) in enumerate((
                ("largest_pages", 1.0, "largest run that succeeded"),
                ("largest_free_extent", 0.6, "largest free extent"),
                ("free_pages", 0.3, "free pages"))):
            ax.bar(x + (3 * n + k) * width, results[field_name].astype(float) * PAGE,
                   width, color=color, alpha=alpha, label=f"{backend(trace)}: {label}")
        ax.set_xticks(x + 0.4 - width / 2)
        ax.set_xticklabels([f"request {names.get(int(z), z)}" for z in results["alloc_zone"]])
    ax.set_yscale("log")
    _log_bytes_axis(ax.yaxis)
    ax.set_ylabel("bytes (log)")
    ax.set_title("Fragment scenario: largest contiguous run that still succeeds")
    _legend(ax, fontsize=7)
    _save(fig, out_dir, "fragment_result")
    return Figure("fragment_result", "Largest contiguous run after the fragment scenario",
                  "After the scenario frees a pattern, the largest run each zone request still "
                  "got (dark) beside the largest free extent and all free memory: the gap "
                  "between the last two is what fragmentation costs.")


def owner_memory(runs, out_dir, sites_shown=6):
    """Physical memory held per owner tag (left) and per call site (right) over the run, for the
    first run; every allocation and free is a step, drawn as the min/max envelope."""
    from ..metrics import attribution
    trace, _ = runs[0]
    allocs, frees = trace.of("pmm_alloc"), trace.of("pmm_free")
    if not len(allocs):
        return None
    x_end = _x_end(runs[:1])
    names = FORMAT.values["owner"]
    found = attribution.attributed_or_none(trace)
    fig, axes = plt.subplots(1, 2 if found else 1, figsize=(12 if found else 9, 4.2),
                             squeeze=False)
    ax = axes[0, 0]
    for owner in sorted(set(allocs["owner"].tolist())):
        a, f = allocs[allocs["owner"] == owner], frees[frees["owner"] == owner]
        positions = np.concatenate([a["position"], f["position"]]).astype(np.int64)
        delta = np.concatenate([a["held"], -f["held"].astype(np.int64)]).astype(np.int64)
        order = np.argsort(positions, kind="stable")
        colour = OWNER_PALETTE[owner % len(OWNER_PALETTE)]
        _envelope_line(ax, trace, positions[order], np.cumsum(delta[order]) * PAGE / 2**20,
                       x_end, color=colour, linewidth=1, label=names.get(owner, str(owner)))
    ax.set_title(f"Physical memory per owner tag ({backend(trace)})", fontsize=10)
    ax.set_ylabel("held (MiB)")
    if found:
        ax = axes[0, 1]
        for i, (site, (positions, held)) in enumerate(attribution.held_over_time(
                trace, found, sites_shown).items()):
            _envelope_line(ax, trace, positions, held / 2**20, x_end, linewidth=1,
                           color=plt.get_cmap("Dark2").colors[i % 8],
                           label=site if len(site) < 60 else site[:57] + "...")
        ax.set_title(f"Physical memory per call site, top {sites_shown} ({backend(trace)})",
                     fontsize=10)
        ax.set_ylabel("held (MiB)")
    for ax in axes[0]:
        _mark_members(ax, runs[:1])
        ax.set_xlabel(PROGRESS_LABEL, fontsize=8)
        ax.set_xlim(0, x_end)
        _legend(ax, fontsize=6, loc="upper left")
    _save(fig, out_dir, "owner_memory")
    return Figure("owner_memory", "Who holds physical memory over the run",
                  "Pages held per owner tag (left) and, from the call chain recorded with each "
                  "allocation, per call site (right; the sites that held the most at any moment), "
                  "after every allocation and free.")


def operation_costs(runs, out_dir):
    """The cost of every operation kind (the events' `cost` field) as a histogram, one panel per
    kind: power-of-two buckets, the exact count written on each bar (analyzer/latency.py), for
    the first run. None when its trace carries no costs (format 7 or older)."""
    from ..metrics.latency import cost_histograms
    trace = runs[0][0]
    histograms = cost_histograms(trace)
    if not histograms:
        return None
    columns = 2
    rows = (len(histograms) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(11, 2.6 * rows + 0.6), squeeze=False)
    for ax, h in zip(axes.flat, histograms):
        buckets = h.buckets()
        x = np.arange(len(buckets))
        counts = [n for _, _, n in buckets]
        ax.bar(x, counts, color=BACKEND_STYLES[0][0])
        for xi, n in zip(x, counts):
            if n:
                ax.text(xi, n, f"{n:,}", ha="center", va="bottom", fontsize=6)
        ax.set_xticks(x, ["0" if high == 1 else f"{low:,}" for low, high, _ in buckets],
                      rotation=45, ha="right", fontsize=6)
        ax.set_ylim(0, max(counts, default=0) * 1.18 or 1)
        # events whose cost was not measured (boot claims) are in no bar: said, not drawn as 0
        unmeasured = f"; {h.not_measured:,} not measured, left out" if h.not_measured else ""
        ax.set_title(f"{h.event}: {h.events:,} events, median {h.median:,}{unmeasured}", fontsize=9)
        ax.set_xlabel(f"{h.unit} (bucket from this value to the next)", fontsize=7)
        ax.set_ylabel("events", fontsize=7)
    for ax in list(axes.flat)[len(histograms):]:
        ax.set_visible(False)
    fig.suptitle(f"Cost per operation ({backend(trace)}): every event's cost field, exact counts")
    _save(fig, out_dir, "operation_costs")
    return Figure("operation_costs", "Cost per operation",
                  f"Each panel counts one kind of operation's events by their cost in "
                  f"{histograms[0].unit} from the operation's entry to its event (its own "
                  "tracing excluded, what it called included), in power-of-two buckets; every "
                  "event is counted, the number on each bar is exact. Events whose cost was not "
                  "measured (the pmm's boot claims) are in no bar; the panel's title counts them. "
                  "The same as text: python3 -m analyzer kmem TRACE.")


ALL = (unusable_index, buddy_heatmap, memory_strip, owner_memory, bookkeeping, work_distribution,
       virtual_holes, virtual_space, largest_free, fragment_result,
       operation_costs)
HEADLINE = ("unusable_index", "bookkeeping_bytes", "work", "memory_strip")


def draw_all(runs, out_dir):
    """Every plot the runs have data for (a plot with nothing to draw is left out, never an
    empty axes)."""
    drawn = (plot(runs, out_dir) for plot in progressbar.bar(ALL, desc="plots", unit="plot"))
    return [f for f in drawn if f is not None]


# --- the verdict's own figures (from verdict.Figures, not from the traces) ----------------------



def draw_verdict_figures(figures, out_dir):
    """The plots the verdict links: peak bookkeeping per workload, instructions per reserve per
    case, per brk call, and per fault lookup on each real program, both backends side by side. Each is drawn only when measured."""
    from ..metrics.verdict import LIST, PAGETABLE
    backends = (PAGETABLE, LIST)
    drawn = []
    cases = sorted({case for (_, case) in figures.reserve_instructions}, key=natural_key)
    if cases:
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(cases) + 1.6))
        y = np.arange(len(cases))
        for i, backend in enumerate(backends):
            values = [figures.reserve_instructions.get((backend, c), np.nan) for c in cases]
            colour, _ = BACKEND_STYLES[i]
            ax.barh(y + (i - 0.5) * 0.4, values, height=0.4, color=colour, label=backend)
        ax.set_yticks(y, cases, fontsize=7)
        # a linear axis from 0: a bar's length is its cost, so the two bars of a case compare as
        # their figures do (on a log axis cut above 0 the cheaper bar looked many times shorter)
        ax.set_xlim(left=0)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.invert_yaxis()
        ax.set_xlabel("instructions per reserve+release (host, callgrind)")
        ax.set_title("Reservation cost per case: page tables vs list")
        ax.legend()
        _save(fig, out_dir, "reserve_cost")
        drawn.append(Figure("reserve_cost", "Contiguous reservations per case",
                            "Longer bars cost more; compare the two bars of each case."))
    peaks = {w: b for w, b in figures.bookkeeping_peak.items() if PAGETABLE in b and LIST in b}
    if peaks:
        workloads = sorted(peaks)
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(workloads) + 1.6))
        y = np.arange(len(workloads))
        for i, backend in enumerate(backends):
            values = np.array([peaks[w][backend] for w in workloads]) / 1024
            colour, _ = BACKEND_STYLES[i]
            offset = (i - 0.5) * 0.4
            ax.barh(y + offset, values, height=0.4, color=colour, label=backend)
            for row, value in zip(y, values):  # a zero bar is invisible: say it
                ax.text(value, row + offset, f" {value:,.0f} KiB", va="center", fontsize=7)
        ax.set_yticks(y, workloads, fontsize=8)
        ax.set_xlim(0, max(max(b.values()) for b in peaks.values()) / 1024 * 1.15 or 1)
        ax.invert_yaxis()
        ax.set_xlabel("peak bookkeeping, KiB (all contexts at once, at the kernel's snapshots)")
        ax.set_title("Bookkeeping memory per workload, page tables vs list")
        ax.legend(loc="lower right")
        _save(fig, out_dir, "bookkeeping_peaks")
        drawn.append(Figure("bookkeeping_peaks", "Peak bookkeeping memory per workload",
                            "Each workload's largest bookkeeping footprint under each backend: "
                            "the page-table backend's counts only table pages that exist for "
                            "unmapped reservations; the list's, its record pages."))
    if figures.pte_bits_available and figures.pte_bits_used:
        used = sum(figures.pte_bits_used.values())
        free = figures.pte_bits_available - used
        labels = [*figures.pte_bits_used, "spare", *figures.details_wanted]
        values = [*figures.pte_bits_used.values(), free, *figures.details_wanted.values()]
        colours = (["tab:blue"] * len(figures.pte_bits_used) + ["tab:green"]
                   + ["tab:grey"] * len(figures.details_wanted))
        fig, ax = plt.subplots(figsize=(9, 0.4 * len(labels) + 1.6))
        y = np.arange(len(labels))
        limit = 2 * figures.pte_bits_available  # longer bars are cut there, their value written
        ax.barh(y, [min(v, limit) for v in values], color=colours)
        for row, value in zip(y, values):
            ax.text(min(value, limit), row, f" {value}" + (" (cut)" if value > limit else ""),
                    va="center", fontsize=8)
        ax.axvline(free, color="tab:green", linestyle="--", linewidth=1)
        ax.set_xlim(0, limit * 1.2)
        ax.set_yticks(y, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"bits per page-table entry (of {figures.pte_bits_available} the CPU "
                      "leaves to software)")
        ax.set_title("What the page-table entries' software bits hold, and what else would fit")
        _save(fig, out_dir, "pte_bits")
        drawn.append(Figure("pte_bits", "Page-table entry bits: used, spare, wanted",
                            "Blue: bits the page-table backend uses in every entry; green: the "
                            "spare bits (dashed line); grey: what a per-reservation detail "
                            "would need: a detail fits only if its bar ends left of the line."))
    if figures.backend_loc and figures.pagetable_core_loc:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        x = np.arange(len(backends))
        core = [figures.pagetable_core_loc] * len(backends)
        own = [figures.backend_loc.get(b, 0) for b in backends]
        ax.bar(x, core, width=0.5, color="tab:grey", label="page-table code both need")
        ax.bar(x, own, width=0.5, bottom=core, color=[BACKEND_STYLES[i][0] for i in range(2)],
               label="the backend's own code")
        for i in range(len(backends)):
            ax.text(x[i], core[i] + own[i], f"+{own[i]}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, backends)
        ax.set_ylabel("lines of C (comments and blank lines excluded)")
        ax.set_title("Implementation: shared page-table code and each backend's own")
        ax.legend(fontsize=8)
        _save(fig, out_dir, "implementation_lines")
        drawn.append(Figure("implementation_lines", "Lines of code per backend",
                            "Grey: the page-table code every backend uses; on top, what each "
                            "backend adds (its own file and the files only it includes)."))
    if figures.list_record_bytes and figures.list_peak_records:
        from ..metrics.verdict import EXTENSION_FIELD_BYTES
        workloads = sorted(figures.list_peak_records)
        records = np.array([figures.list_peak_records[w] for w in workloads])
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(workloads) + 1.6))
        y = np.arange(len(workloads))
        for i, (size, label) in enumerate(((figures.list_record_bytes, "list records today"),
                                           (figures.list_record_bytes + EXTENSION_FIELD_BYTES,
                                            f"with one more {EXTENSION_FIELD_BYTES}-byte field"))):
            ax.barh(y + (i - 0.5) * 0.4, records * size / 1024, height=0.4, label=label,
                    color=("tab:orange", "tab:red")[i])
        ax.set_yticks(y, workloads, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("list record memory at the peak number of reservations, KiB")
        ax.set_title("Extending the list: record memory with one more field per reservation")
        ax.legend(loc="lower right", fontsize=8)
        _save(fig, out_dir, "extension_cost")
        drawn.append(Figure("extension_cost", "Cost of one more field per reservation",
                            "Record memory at each workload's peak reservation count, as the "
                            "list is today and with one more 8-byte field per record."))
    lookups = {p: by for p, by in figures.fault_lookup.items() if all(b in by for b in backends)}
    if lookups:
        programs = sorted(lookups)
        unit = lookups[programs[0]][PAGETABLE]["unit"]
        fig, ax = plt.subplots(figsize=(9, 0.55 * len(programs) + 1.8))
        y = np.arange(len(programs))
        top = max(by[b]["p99"] for by in lookups.values() for b in backends)
        for i, backend in enumerate(backends):
            colour, _ = BACKEND_STYLES[i]
            rows = y + (i - 0.5) * 0.4
            medians = [lookups[p][backend]["median"] for p in programs]
            p99s = [lookups[p][backend]["p99"] for p in programs]
            ax.barh(rows, medians, height=0.4, color=colour, label=f"{backend}: median")
            ax.scatter(p99s, rows, marker="|", s=120, color="black",
                       label="p99 (nearest rank)" if i == 0 else None, zorder=3)
            for row, median, p99 in zip(rows, medians, p99s):
                ax.text(max(median, p99), row, f"  {median:,.0f} (p99 {p99:,.0f})", va="center",
                        fontsize=7)
        ax.set_yticks(y, [f"{p} ({lookups[p][PAGETABLE]['faults']:,} faults)" for p in programs],
                      fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.45)
        ax.set_xlabel(f"{unit} per fault to classify the page (page_fault.lookup_ticks)")
        ax.set_title("Finding the reservation at fault time: page tables vs list, per real program")
        ax.legend(loc="lower right", fontsize=8)
        _save(fig, out_dir, "fault_lookup")
        drawn.append(Figure("fault_lookup", "Fault-time lookup per real program",
                            "Per program and backend, the cost of learning what the faulting "
                            "page is (the backend's lookup alone, not the page's zero-fill or "
                            "copy): the bar is the median, the black tick the p99, both exact "
                            "over every fault of the program."))
    if figures.brk_instructions:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        kinds = ("grow", "shrink")
        x = np.arange(len(kinds))
        for i, backend in enumerate(backends):
            values = [figures.brk_instructions.get(backend, {}).get(k, np.nan) for k in kinds]
            colour, _ = BACKEND_STYLES[i]
            ax.bar(x + (i - 0.5) * 0.4, values, width=0.4, color=colour, label=backend)
        ax.set_xticks(x, [f"brk {k}" for k in kinds])
        ax.set_ylabel("guest instructions per brk call")
        ax.set_title("brk(): cost per call, page tables vs list (QEMU icount)")
        ax.legend()
        _save(fig, out_dir, "brk_instructions")
        drawn.append(Figure("brk_instructions", "brk() cost per call",
                            "Lower is cheaper; each brk call moves the break by 8 pages."))
    return drawn
