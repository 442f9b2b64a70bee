"""Views of a trace shaped like the tools kernel engineers already read: /proc/buddyinfo,
/sys/kernel/debug/extfrag/{unusable_index,extfrag_index}, `perf kmem stat`, page_owner-style
holdings per owner, and a leak list.

A moment is named on the command line (`--at`) as trace time since the first clock reading (what
Perfetto's timeline shows: `123456789`, `250ms`, `1.5s`; ns when no unit), or `end`, or `peak`
(when the most physical pages were in use). It is resolved to a record position: the state is
that after every event before it.

Figures come from the exact timeline (analyzer/metrics/timeline.py) and the allocation events themselves,
never from samples. Index figures are printed the way Linux prints them: x1000 in integer
arithmetic (truncated), as "%d.%03d".
"""

import re
from dataclasses import dataclass

import numpy as np

from ..definitions.events import FORMAT, PAGE
from .frag import MAX_ORDER
from ..definitions.units import format_bytes


class BadMoment(ValueError):
    """`--at` names no moment of the trace."""


TIME_UNITS = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}


def parse_moment(text):
    """"end", "peak" or a time in ns ("123", "250ms", "1.5s") -> ("end"|"peak"|"time", ns)."""
    if text in ("end", "peak"):
        return text, None
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(ns|us|ms|s)?\s*", text)
    if not m:
        raise BadMoment(f"--at {text!r}: give end, peak or a time such as 250ms, 1.5s or "
                        "123456 (ns)")
    return "time", float(m.group(1)) * TIME_UNITS[m.group(2) or "ns"]


def resolve(trace, series, moment):
    """(record position, a description) of a parsed moment: the state after every event
    before the position."""
    kind, ns = moment
    end = len(trace.headers)
    if kind == "end":
        return end, "end of trace"
    if kind == "peak":
        positions, used = used_pages(trace)
        if not len(positions):
            return end, "end of trace (no physical allocation)"
        at = int(np.argmax(used))
        position = int(positions[at]) + 1
        return position, f"peak use: {int(used[at]):,} pages ({format_bytes(int(used[at]) * PAGE)}) " \
                         f"in use at {_time_text(trace, position)}"
    times = trace.time_ns(trace.headers["timestamp"])
    last = float(times[-1]) if len(times) else 0.0
    if ns > last:
        raise BadMoment(f"--at {ns:.0f} ns: the trace ends at {last:.0f} ns")
    position = int(np.searchsorted(times, ns, side="right"))
    return position, f"{ns:,.0f} ns"


def _time_text(trace, position):
    times = trace.time_ns(trace.headers["timestamp"])
    return f"{float(times[min(position, len(times) - 1)]):,.0f} ns"


def used_pages(trace):
    """(positions, pages held by pmm allocations after each pmm event)."""
    allocs, frees = trace.of("pmm_alloc"), trace.of("pmm_free")
    positions = np.concatenate([allocs["position"], frees["position"]]).astype(np.int64)
    deltas = np.concatenate([allocs["held"].astype(np.int64), -frees["held"].astype(np.int64)])
    order = np.argsort(positions, kind="stable")
    return positions[order], np.cumsum(deltas[order])


def zone_blocks_at(series, position):
    """{zone: blocks per order} as the exact timeline holds them just before `position`."""
    out = {}
    for name, z in series.timeline.zones.items():
        i = int(np.searchsorted(z.positions, position, side="left")) - 1
        out[name] = z.blocks[i] if i >= 0 else np.zeros(MAX_ORDER + 1, np.int64)
    return out


def buddyinfo_lines(blocks_by_zone):
    """/proc/buddyinfo's lines: "Node 0, zone %8s " then "%6lu " per order."""
    return ["Node 0, zone %8s " % name + "".join("%6d " % int(n) for n in blocks)
            for name, blocks in blocks_by_zone.items()]


def linux_indices(blocks):
    """(unusable, extfrag) per order as Linux computes them x1000 (mm/vmstat.c, integers)."""
    free_pages = sum(int(n) << o for o, n in enumerate(blocks))
    total = sum(int(n) for n in blocks)
    unusable, extfrag = [], []
    for order in range(MAX_ORDER + 1):
        suitable = sum(int(n) << (o - order) for o, n in enumerate(blocks) if o >= order)
        unusable.append(1000 if free_pages == 0 else
                        (free_pages - (suitable << order)) * 1000 // free_pages)
        if suitable:
            extfrag.append(-1000)
        elif total == 0:
            extfrag.append(0)
        else:
            extfrag.append(1000 - (1000 + free_pages * 1000 // (1 << order)) // total)
    return unusable, extfrag


def _thousandths(value):
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 1000}.{abs(value) % 1000:03d}"


def extfrag_lines(blocks_by_zone):
    """The two debugfs files, each headed by its path, zones with free pages only."""
    lines = []
    for which, title in ((0, "unusable_index"), (1, "extfrag_index")):
        lines.append(f"# /sys/kernel/debug/extfrag/{title}")
        for name, blocks in blocks_by_zone.items():
            if not np.asarray(blocks).any():
                continue
            values = linux_indices(blocks)[which]
            lines.append("Node 0, zone %8s " % name + "".join(_thousandths(v) + " "
                                                                for v in values))
    return lines


@dataclass
class Holding:
    owner: str
    pages: int
    allocations: int


def owners_table(trace, position):
    """[Holding] per owner tag of the pmm allocations alive at `position`, most pages first."""
    from .attribution import live_rows
    live = trace.of("pmm_alloc")[live_rows(trace, "pmm_alloc", position)]
    names = FORMAT.values["owner"]
    out = []
    for owner in np.unique(live["owner"]).tolist():
        mine = live[live["owner"] == owner]
        out.append(Holding(names.get(owner, str(owner)), int(mine["held"].astype(np.int64).sum()),
                           len(mine)))
    return sorted(out, key=lambda h: (-h.pages, h.owner))


@dataclass
class KmemStats:
    requested: int
    allocated: int
    freed: int
    allocations: int
    frees: int
    failures: int
    slab_objects: dict  # cache name -> (allocations, frees, object size)
    pages_allocated: int
    pages_freed: int
    page_allocations: int
    page_frees: int
    page_failures: int


def kmem_stats(trace):
    names = {e.cache: (e.text, e.object_size) for e in trace.others_named("slab_cache_create")}
    slab = {}
    sa, sf = trace.of("slab_alloc"), trace.of("slab_free")
    for cache in sorted(set(sa["cache"].tolist()) | set(sf["cache"].tolist())):
        name, size = names.get(cache, (f"cache{cache}", 0))
        slab[name] = (int((sa["cache"] == cache).sum()), int((sf["cache"] == cache).sum()), size)
    k, f, kf = trace.of("kmalloc"), trace.of("kfree"), trace.of("kmalloc_fail")
    pa, pf, pff = trace.of("pmm_alloc"), trace.of("pmm_free"), trace.of("pmm_alloc_fail")
    return KmemStats(int(k["requested"].astype(np.int64).sum()),
                     int(k["given"].astype(np.int64).sum()), int(f["given"].astype(np.int64).sum()),
                     len(k), len(f), len(kf), slab, int(pa["pages"].astype(np.int64).sum()),
                     int(pf["pages"].astype(np.int64).sum()), len(pa), len(pf), len(pff))


def kmem_lines(stats):
    s = stats
    wasted = s.allocated - s.requested
    lines = ["SUMMARY (kmalloc)", "=================",
             f"Total bytes requested: {s.requested:,}",
             f"Total bytes allocated: {s.allocated:,}",
             f"Total bytes freed:     {s.freed:,}",
             f"Net total bytes allocated: {s.allocated - s.freed:,}",
             f"Total bytes wasted on internal fragmentation: {wasted:,}",
             "Internal fragmentation: " + (f"{100.0 * wasted / s.allocated:.6f}%"
                                           if s.allocated else "0%"),
             f"Allocations: {s.allocations:,}, frees: {s.frees:,}, refused: {s.failures:,}",
             "", "SUMMARY (slab caches)", "=====================",
             f"{'cache':<24} {'object':>8} {'allocs':>10} {'frees':>10} {'live':>8}"]
    for name, (allocs, frees, size) in sorted(s.slab_objects.items(),
                                              key=lambda kv: -kv[1][0]):
        lines.append(f"{name:<24} {size:>8} {allocs:>10,} {frees:>10,} {allocs - frees:>8,}")
    lines += ["", "SUMMARY (page allocator)", "========================",
              f"Total allocation requests     : {s.page_allocations:>12,}   "
              f"[ {s.pages_allocated * PAGE // 1024:>12,} KB ]",
              f"Total free requests           : {s.page_frees:>12,}   "
              f"[ {s.pages_freed * PAGE // 1024:>12,} KB ]",
              f"Total allocation failures     : {s.page_failures:>12,}"]
    return lines


def owners_lines(trace, attribution, position, what, top):
    """The page_owner-style report at `position`: physical pages per owner tag, then for each
    attributed allocation kind the call sites holding the most, each with its share."""
    from .attribution import held_by_site
    lines = [f"{trace.path}: {what}", "", "physical pages held, per owner tag:",
             f"  {'owner':<12} {'pages':>10} {'bytes':>11} {'allocations':>12}"]
    table = owners_table(trace, position)
    lines += [f"  {h.owner:<12} {h.pages:>10,} {format_bytes(h.pages * PAGE):>11} "
              f"{h.allocations:>12,}" for h in table] or ["  none"]
    if not attribution.has_sites():
        return lines + ["", "no call sites: the trace has no call_chain events (a kernel from "
                            "before attribution, or a synthetic trace)"]
    titles = {"pmm_alloc": "physical pages (pmm_alloc)", "kmalloc": "kmalloc",
              "slab_alloc": "slab objects", "vmm_reserve": "virtual reservations (vmm_reserve)"}
    for name, title in titles.items():
        held = held_by_site(trace, attribution, name, position)
        total = sum(h.bytes for h in held) or 1
        lines += ["", f"{title}, per call site: {sum(h.allocations for h in held):,} alive, "
                      f"{format_bytes(sum(h.bytes for h in held))}",
                  f"  {'bytes':>11} {'share':>6} {'count':>9}  call site"]
        lines += [f"  {format_bytes(h.bytes):>11} {100.0 * h.bytes / total:>5.1f}% "
                  f"{h.allocations:>9,}  {h.site}" for h in held[:top]] or ["  none"]
        if len(held) > top:
            rest = held[top:]
            lines.append(f"  {format_bytes(sum(h.bytes for h in rest)):>11} "
                         f"{100.0 * sum(h.bytes for h in rest) / total:>5.1f}% "
                         f"{sum(h.allocations for h in rest):>9,}  ({len(rest)} more sites)")
    if attribution.unmatched:
        lines += ["", f"{attribution.unmatched} call chains had no allocation after them "
                      "(their allocation was lost)"]
    return lines


def site_totals_lines(trace, attribution, top):
    """perf kmem stat --caller's table: per call site of kmalloc, total bytes allocated and
    requested, calls, and the internal fragmentation (allocated - requested) / allocated."""
    k = trace.of("kmalloc")
    ids = attribution.chain_of["kmalloc"]
    table = {}
    for chain_id, req, given in zip(ids.tolist(), k["requested"].tolist(), k["given"].tolist()):
        site = attribution.site(chain_id)
        a, r, n = table.get(site, (0, 0, 0))
        table[site] = (a + given, r + req, n + 1)
    rows = sorted(table.items(), key=lambda kv: -kv[1][0])
    lines = ["kmalloc per call site", "=====================",
             f"{'total_alloc':>12} {'total_req':>12} {'hits':>8} {'frag':>8}  call site"]
    for site, (a, r, n) in rows[:top]:
        lines.append(f"{a:>12,} {r:>12,} {n:>8,} {100.0 * (a - r) / a if a else 0:>7.3f}%  {site}")
    return lines
