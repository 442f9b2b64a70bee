"""Running totals over a trace, as step functions of the record index (position): page-table
pages, kmalloc bytes, slab bytes, mapped pages per context, and each context's bookkeeping bytes
as the kernel reported it (vmm_bookkeeping). Totals count from the start of the trace, which
begins at the kernel's first instruction, so nothing is missing before it."""

from dataclasses import dataclass

import numpy as np



def _pages(a):
    """4 KiB pages per mapping (page_size 0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB)."""
    return np.left_shift(1, 9 * a["page_size"].astype(np.int64))


@dataclass
class Step:
    """value[i] holds from record positions[i] on; before positions[0] the value is 0."""

    name: str
    unit: str  # "pages", "bytes" or "count"
    positions: np.ndarray
    values: np.ndarray
    context: int = None  # the address-space context it belongs to, if one

    def at(self, query_positions):
        i = np.searchsorted(self.positions, np.asarray(query_positions), side="right") - 1
        return np.where(i >= 0, self.values[np.maximum(i, 0)], 0)


def _cumulative(name, unit, parts):
    """parts: [(positions, deltas)] merged in stream order and summed."""
    positions = np.concatenate([np.asarray(p, dtype=np.int64) for p, _ in parts])
    deltas = np.concatenate([np.asarray(d, dtype=np.int64) for _, d in parts])
    order = np.argsort(positions, kind="stable")
    return Step(name, unit, positions[order], np.cumsum(deltas[order]))


def slab_object_sizes(trace):
    """cache id -> object size, from slab_cache_create."""
    return {e.cache: e.object_size for e in trace.others_named("slab_cache_create")}


def cache_names(trace):
    return {e.cache: e.text for e in trace.others_named("slab_cache_create")}


def running_totals(trace):
    """[Step] of every running total the trace supports."""
    out = []
    pt_alloc, pt_free = trace.of("pt_alloc"), trace.of("pt_free")
    out.append(_cumulative("page-table pages", "pages", [
        (pt_alloc["position"], np.ones(len(pt_alloc))),
        (pt_free["position"], -np.ones(len(pt_free)))]))
    kmalloc, kfree = trace.of("kmalloc"), trace.of("kfree")
    out.append(_cumulative("kmalloc bytes", "bytes", [
        (kmalloc["position"], kmalloc["given"]), (kfree["position"], -kfree["given"].astype(np.int64))]))
    sizes = slab_object_sizes(trace)
    lookup = np.zeros(65536, dtype=np.int64)
    for cache, size in sizes.items():
        lookup[cache] = size
    slab_alloc, slab_free = trace.of("slab_alloc"), trace.of("slab_free")
    out.append(_cumulative("slab bytes", "bytes", [
        (slab_alloc["position"], lookup[slab_alloc["cache"]]),
        (slab_free["position"], -lookup[slab_free["cache"]])]))
    maps, unmaps = trace.of("vmm_map"), trace.of("vmm_unmap")
    for context in sorted(set(maps["context"].tolist()) | set(unmaps["context"].tolist())):
        m, u = maps[maps["context"] == context], unmaps[unmaps["context"] == context]
        step = _cumulative(f"mapped pages ctx{context}", "pages", [
            (m["position"], _pages(m)), (u["position"], -_pages(u))])
        step.context = context
        out.append(step)
    out.extend(bookkeeping_steps(trace))
    return out


def bookkeeping_steps(trace):
    """One Step per context id: the bytes its VMM backend reported after each of its snapshots,
    and 0 from each context_destroy of that id on (a dead context holds nothing; its last report
    is the state it died with)."""
    events = trace.of("vmm_bookkeeping")
    destroyed = trace.of("context_destroy")
    steps = []
    for context in sorted(set(events["context"].tolist())):
        e = events[events["context"] == context]
        deaths = destroyed["position"][destroyed["context"] == context].astype(np.int64)
        positions = np.concatenate([e["position"].astype(np.int64), deaths])
        values = np.concatenate([e["bytes"].astype(np.int64), np.zeros(len(deaths), np.int64)])
        order = np.argsort(positions, kind="stable")
        steps.append(Step(f"bookkeeping bytes ctx{context}", "bytes", positions[order],
                          values[order], context))
    return steps


def bookkeeping_totals(trace):
    """(positions, bytes all contexts held after each of them), from bookkeeping_steps, or None
    when the trace has no vmm_bookkeeping event."""
    steps = bookkeeping_steps(trace)
    if not steps:
        return None
    positions = np.unique(np.concatenate([s.positions for s in steps]))
    return positions, sum(s.at(positions) for s in steps)
