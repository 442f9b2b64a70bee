"""The report's figures (matplotlib, Agg backend), each saved as PNG and SVG, titled, with labelled
axes and units. Every function takes `runs`: [(BulkTrace, FragSeries)], one per traced boot
(normally the pagetable and list backends on the same workload), and returns a Figure record
with the caption the report prints under it."""

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from . import counters, progress  # noqa: E402
from .events import FORMAT  # noqa: E402
from .frag import ORDERS, region_name  # noqa: E402
from .perfetto import present_zones  # noqa: E402

# Line colour and style per VMM backend, by its value in events.def (0 = pagetable, 1 = list).
BACKEND_STYLES = [("tab:blue", "-"), ("tab:orange", "--"), ("tab:green", "-.")]
STRIP_ROWS_MAX = 14


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
    fig.tight_layout()
    fig.savefig(out_dir / f"{name}.png", dpi=110)
    fig.savefig(out_dir / f"{name}.svg")
    plt.close(fig)


def unusable_index(runs, out_dir):
    zones = []
    for _, series in runs:
        zones += [z for z in present_zones(series) if z not in zones]
    fig, axes = plt.subplots(len(zones) or 1, 1, figsize=(9, 2.6 * max(1, len(zones))),
                             squeeze=False)
    for ax, zone in zip(axes[:, 0], zones):
        for trace, series in runs:
            color, line = _style(trace)
            t = _progress_k(trace, [s.position for s in series.samples])
            for order, alpha in ((9, 1.0), (3, 0.45)):
                ax.plot(t, [s.zones[zone].unusable[order] for s in series.samples], line,
                        color=color, alpha=alpha, label=f"{backend(trace)}, order {order}")
        ax.set_title(f"Unusable free space index, zone {zone}")
        _mark_members(ax, runs)
        ax.set_xlabel(PROGRESS_LABEL)
        ax.set_ylabel("unusable index (0-1)")
        ax.set_ylim(-0.02, 1.02)
        _legend(ax, fontsize=7, loc="center left")
    _save(fig, out_dir, "unusable_index")
    return Figure("unusable_index", "Unusable free space index over the run",
                  "Linux's unusable free space index per zone (orders 9 and 3, both backends): "
                  "the higher the line, the more free memory is useless for a 2 MiB (order 9) "
                  "or 32 KiB (order 3) request.")


def buddy_heatmap(runs, out_dir):
    trace, series = runs[0]
    zones = present_zones(series)
    fig, axes = plt.subplots(len(zones) or 1, 1, figsize=(9, 2.6 * max(1, len(zones))),
                             squeeze=False)
    t = _progress_k(trace, [s.position for s in series.samples])
    for ax, zone in zip(axes[:, 0], zones):
        blocks = np.array([s.zones[zone].blocks for s in series.samples], dtype=np.float64).T
        image = ax.imshow(np.log10(blocks + 1), aspect="auto", origin="lower", cmap="viridis",
                          extent=(t[0], t[-1] if t[-1] > t[0] else t[0] + 1, -0.5,
                                  len(ORDERS) - 0.5), interpolation="nearest")
        ax.set_title(f"Free blocks by order (buddyinfo view), zone {zone}, {backend(trace)}")
        ax.set_xlabel(PROGRESS_LABEL)
        ax.set_ylabel("order (2^order pages)")
        fig.colorbar(image, ax=ax, label="log10(blocks + 1)")
    _save(fig, out_dir, "buddy_heatmap")
    return Figure("buddy_heatmap", "Free extents by order over the run",
                  "Free memory decomposed into aligned power-of-two blocks as Linux's buddy "
                  "allocator would hold it; bright low rows and dark high rows mean fragmented.")


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


def memory_strip(runs, out_dir, width=1600):
    trace, series = runs[0]
    ends = series.phase_ends
    if len(ends) > STRIP_ROWS_MAX:
        pick = np.linspace(0, len(ends) - 1, STRIP_ROWS_MAX).round().astype(int)
        ends = [ends[i] for i in sorted(set(pick.tolist()))]
    alloc_at, freed_at, addr, pages, owner = _live_allocations(trace)
    high = max([r[1] for _, _, runs_ in ends for r in runs_[-1:]] +
               [int((addr + pages * 4096).max()) if len(addr) else 0] + [1])
    owners = sorted(FORMAT.values["owner"])
    free_color = len(owners)
    image = np.full((max(1, len(ends)), width), free_color + 1, dtype=np.int64)  # unknown
    scale = width / high
    for row, (position, _, free_runs) in enumerate(ends):
        live = (alloc_at < position) & (freed_at > position)
        for a, p, o in zip(addr[live].tolist(), pages[live].tolist(), owner[live].tolist()):
            lo = int(a * scale)
            image[row, lo:max(lo + 1, int((a + p * 4096) * scale))] = o
        for start, end in free_runs:
            lo = int(start * scale)
            image[row, lo:max(lo + 1, int(end * scale))] = free_color
    palette = list(plt.get_cmap("tab20").colors[:len(owners)]) + [(1, 1, 1), (0.85, 0.85, 0.85)]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(image) + 1.6))
    ax.imshow(image, aspect="auto", interpolation="nearest",
              cmap=ListedColormap(palette), vmin=-0.5, vmax=len(palette) - 0.5,
              extent=(0, high / 2**20, len(image) - 0.5, -0.5))
    ax.set_yticks(range(len(ends)))
    ax.set_yticklabels([name[:28] for _, name, _ in ends], fontsize=7)
    ax.set_xlabel("physical address (MiB)")
    ax.set_ylabel("phase end")
    ax.set_title(f"Physical memory by owner at each phase end ({backend(trace)})")
    used = sorted(set(np.unique(image).tolist()))
    handles = [Patch(color=palette[i], label=(FORMAT.values["owner"][owners[i]] if i < len(owners) else
                                              "free" if i == free_color else "not traced"))
               for i in used]
    ax.legend(handles=handles, fontsize=7, ncol=min(6, len(handles)), loc="upper center",
              bbox_to_anchor=(0.5, -0.35 if len(image) < 4 else -0.12))
    _save(fig, out_dir, "memory_strip")
    return Figure("memory_strip", "Physical memory by owner",
                  "Each row is physical memory at the end of a phase, coloured by who owns each "
                  "page (white: free); many thin white gaps between used runs is fragmentation.")


def bookkeeping(runs, out_dir):
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
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, kind in zip(axes, ("vmm_reserve", "vmm_release")):
        for trace, _ in runs:
            color, line = _style(trace)
            work = np.sort(trace.of(kind)["work"].astype(np.int64))
            if len(work):
                ax.plot(np.maximum(work, 1), np.arange(1, len(work) + 1) / len(work), line,
                        color=color, drawstyle="steps-post", label=backend(trace))
        ax.set_xscale("log")
        ax.set_title(f"Work per {kind.split('_')[1]}")
        ax.set_xlabel("entries or records visited (log)")
        ax.set_ylabel("fraction of operations (CDF)")
        _legend(ax)
    _save(fig, out_dir, "work")
    return Figure("work", "Work per reserve and release",
                  "Cumulative distribution of the entries (page-table) or records (list) each "
                  "operation visited: the curve further left does less work; its top right is "
                  "the worst case.")


def virtual_holes(runs, out_dir):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for trace, series in runs:
        color, line = _style(trace)
        t = _progress_k(trace, [s.position for s in series.samples])
        keys = sorted({k for s in series.samples for k in s.virtual if k[0] == 0})
        for key in keys:
            values = [s.virtual.get(key, (0, 0, 0)) for s in series.samples]
            axes[0].plot(t, [v[1] for v in values], line, color=color, alpha=0.8,
                         label=f"{backend(trace)} {region_name(*key)}")
            axes[1].plot(t, [max(v[2], 1) * 4096 / 2**20 for v in values], line, color=color,
                         alpha=0.8, label=f"{backend(trace)} {region_name(*key)}")
    axes[0].set_title("Free ranges per kernel region")
    axes[0].set_ylabel("free ranges (count)")
    axes[1].set_title("Largest hole per kernel region")
    axes[1].set_ylabel("largest hole (MiB, log)")
    axes[1].set_yscale("log")
    for ax in axes:
        _mark_members(ax, runs)
        ax.set_xlabel(PROGRESS_LABEL)
        _legend(ax, fontsize=6)
    _save(fig, out_dir, "virtual_holes")
    return Figure("virtual_holes", "Virtual address space: free ranges and largest hole",
                  "Per region of the kernel context, both backends: they place every request "
                  "at the same address, so the lines must coincide; a rising count of ranges with "
                  "a falling largest hole is virtual fragmentation.")


def virtual_space(runs, out_dir, width=1600):
    """Each region of the kernel context at the end of the trace: reserved (coloured) and free
    (white) across the span from its lowest to its highest free or reserved address."""
    trace, series = runs[0]
    keys = sorted(k for k in series.final_virtual if k[0] == 0)
    reserves = trace.of("vmm_reserve")
    fig, ax = plt.subplots(figsize=(10, 0.5 * max(1, len(keys)) + 1.4))
    image = np.zeros((max(1, len(keys)), width), dtype=np.int8)
    labels = []
    for row, key in enumerate(keys):
        free = series.final_virtual[key]
        mine = reserves[(reserves["context"] == key[0]) & (reserves["region"] == key[1])]
        low = min([s for s, _ in free] + [int(a) for a in mine["addr"].tolist()])
        high = max([e for _, e in free] + [int(a) + int(p) * 4096 for a, p in
                                           zip(mine["addr"].tolist(), mine["pages"].tolist())])
        scale = width / max(high - low, 1)
        reserved = zip([low] + [e for _, e in free], [s for s, _ in free] + [high])
        for start, end in reserved:  # the gaps between free runs, visible however small
            if end > start:
                lo = int((start - low) * scale)
                image[row, lo:max(lo + 4, int((end - low) * scale))] = 1
        labels.append(f"{region_name(*key)} ({(high - low) / 2**20:,.0f} MiB)")
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
                  "white gaps inside blue are holes a large reservation cannot use.")


def largest_free(runs, out_dir):
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for trace, series in runs:
        color, line = _style(trace)
        t = _progress_k(trace, [s.position for s in series.samples])
        largest = [max(z.largest for z in s.zones.values()) * 4096 / 2**20 for s in series.samples]
        ax.plot(t, largest, line, color=color, label=backend(trace))
    ax.set_title("Largest contiguous physical run that would succeed")
    _mark_members(ax, runs)
    ax.set_xlabel(PROGRESS_LABEL)
    ax.set_ylabel("largest free extent (MiB)")
    _legend(ax)
    _save(fig, out_dir, "largest_free")
    return Figure("largest_free", "Largest free extent over the run",
                  "The longest physically contiguous allocation that could succeed at each "
                  "moment: drops show memory being cut up.")


def fragment_result(runs, out_dir):
    """The fragment scenario's probes: per zone request, the largest run that still succeeded
    beside the largest free extent and all free pages, per backend."""
    fig, ax = plt.subplots(figsize=(9, 3.8))
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
            ax.bar(x + (3 * n + k) * width, results[field_name].astype(float) * 4096 / 2**20,
                   width, color=color, alpha=alpha, label=f"{backend(trace)}: {label}")
        ax.set_xticks(x + 0.4 - width / 2)
        ax.set_xticklabels([f"zone request {names.get(int(z), z)}" for z in results["zone"]])
    ax.set_yscale("log")
    ax.set_ylabel("MiB (log)")
    ax.set_title("Fragment scenario: largest contiguous run that still succeeds")
    _legend(ax, fontsize=7)
    _save(fig, out_dir, "fragment_result")
    return Figure("fragment_result", "Largest contiguous run after the fragment scenario",
                  "After the scenario frees a pattern, the largest run each zone request still "
                  "got (dark) beside the largest free extent and all free memory: the gap "
                  "between the last two is what fragmentation costs.")


ALL = (unusable_index, buddy_heatmap, memory_strip, bookkeeping, work_distribution,
       virtual_holes, virtual_space, largest_free, fragment_result)
HEADLINE = ("unusable_index", "bookkeeping_bytes", "work", "memory_strip")


def draw_all(runs, out_dir):
    return [plot(runs, out_dir) for plot in ALL]


# --- the verdict's own figures (from verdict.Figures, not from the traces) ----------------------



def draw_verdict_figures(figures, out_dir):
    """The plots the verdict links: peak bookkeeping per workload, instructions per reserve per
    case, and per brk call, both backends side by side. Each is drawn only when measured."""
    from .verdict import LIST, PAGETABLE
    backends = (PAGETABLE, LIST)
    drawn = []
    cases = sorted({case for (_, case) in figures.reserve_instructions})
    if cases:
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(cases) + 1.6))
        y = np.arange(len(cases))
        for i, backend in enumerate(backends):
            values = [figures.reserve_instructions.get((backend, c), np.nan) for c in cases]
            colour, _ = BACKEND_STYLES[i]
            ax.barh(y + (i - 0.5) * 0.4, values, height=0.4, color=colour, label=backend)
        ax.set_yticks(y, cases, fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("instructions per reserve+release (host, callgrind)")
        ax.set_title("Contiguous reservations: cost per case, page tables vs list")
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
        from .verdict import EXTENSION_FIELD_BYTES
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
