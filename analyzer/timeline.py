"""Exact fragmentation timelines: every change, never a sample.

For physical memory, per zone, and for each context's virtual regions, the figures that
analyzer/frag.py defines (free pages, free extents, largest free extent, Linux's buddy block
counts per order and the indices computed from them; free pages, free ranges and largest hole of
a virtual region) are recomputed after *every* event that changes them, so a counter, a CSV row
or a plot can show the true minimum and maximum however briefly they held.

Invariants:
  - a timeline starts at its space's first snapshot (the pmm's first `pmm_snapshot`; a region's
    first `vmm_snapshot` in each life of its context) and takes one step per event after it that
    changes the space (pmm_alloc, pmm_free; vmm_reserve, vmm_release); a region's timeline ends
    at its context's `context_destroy`;
  - `positions[i]` is the record index of the event after which `values[i]` hold (the first entry
    is the snapshot's position); positions never decrease;
  - the state is updated in place, one event at a time, touching only the free runs the event
    changes: the cost is O(log R) per event for R free runs (bisect on sorted lists), plus
    O(MAX_ORDER) for the buddy decomposition of the at most three runs it changes.

The trace must already have passed frag.replay_series (every step fits, every snapshot equals
the replay): this module steps through the same events without re-checking them.
"""

import heapq
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from . import progressbar
from .frag import MAX_ORDER, ORDERS, SUITABLE, replay_series
from .replay import PAGE, zone_ranges


@dataclass
class ZoneTimeline:
    """One physical zone: a row per change."""

    name: str
    positions: np.ndarray  # int64, record index after which the row holds
    free_pages: np.ndarray
    extents: np.ndarray
    largest: np.ndarray  # pages
    blocks: np.ndarray  # (rows, MAX_ORDER + 1) buddy blocks per order

    def unusable(self):
        """Linux's unusable free space index, (rows, orders), from the block counts."""
        blocks = self.blocks.astype(np.float64)
        free = (blocks * 2.0 ** ORDERS).sum(axis=1)
        suitable = blocks @ SUITABLE.T  # suitable[r, s] = sum_o blocks[r, o] * SUITABLE[s, o]
        with np.errstate(invalid="ignore", divide="ignore"):
            index = (free[:, None] - suitable * 2.0 ** ORDERS) / free[:, None]
        return np.where(free[:, None] == 0, 1.0, index)

    def fragmentation(self):
        """Linux's fragmentation index, (rows, orders), from the block counts."""
        blocks = self.blocks.astype(np.float64)
        free = (blocks * 2.0 ** ORDERS).sum(axis=1)[:, None]
        total = blocks.sum(axis=1)[:, None]
        suitable = blocks @ SUITABLE.T
        with np.errstate(invalid="ignore", divide="ignore"):
            index = 1.0 - (1.0 + free / 2.0 ** ORDERS) / total
        return np.where(suitable > 0, -1.0, np.where(total == 0, 0.0, index))


@dataclass
class HoleTimeline:
    """One region of one life of a context: a row per change."""

    context: int
    region: int
    life: int  # 0 for the first context with this id, 1 for the next, ...
    positions: np.ndarray
    free_pages: np.ndarray
    ranges: np.ndarray
    largest: np.ndarray  # pages


@dataclass
class Timeline:
    zones: dict  # zone name -> ZoneTimeline (every zone the pmm's snapshots name)
    holes: list  # [HoleTimeline] in the order their spaces appear

    def present_zones(self):
        """Zones that held free pages at some moment (without high memory, normal holds none),
        in the order the pmm's snapshots name them."""
        return [name for name, z in self.zones.items() if len(z.free_pages) and
                z.free_pages.max() > 0]


def block_counts(first, end):
    """Buddy blocks per order (a list of MAX_ORDER + 1) of the free pages [first, end): at each
    page the largest aligned block that fits, orders above MAX_ORDER counted as MAX_ORDER blocks
    (the rule of frag.buddy_blocks, for one run)."""
    counts = [0] * (MAX_ORDER + 1)
    while first < end:
        align = (first & -first).bit_length() - 1 if first else 63
        order = min(align, (end - first).bit_length() - 1)
        if order >= MAX_ORDER:
            top = 1 << MAX_ORDER
            n = (end - first) // top
            counts[MAX_ORDER] += n
            first += n * top
        else:
            counts[order] += 1
            first += 1 << order
    return counts


class _Largest:
    """The largest of a multiset of sizes, under inserts and deletes (a max-heap with lazy
    deletion: each size is pushed once per insert and popped at most once)."""

    def __init__(self):
        self.heap, self.count = [], {}

    def add(self, size):
        self.count[size] = self.count.get(size, 0) + 1
        heapq.heappush(self.heap, -size)

    def remove(self, size):
        self.count[size] -= 1

    def top(self):
        while self.heap and not self.count.get(-self.heap[0]):
            heapq.heappop(self.heap)
        return -self.heap[0] if self.heap else 0


class _Zone:
    """The live state of one zone: page range [low, high), its figures, and a row list."""

    def __init__(self, name, low, high):
        self.name, self.low, self.high = name, low, high
        self.free = self.extents = 0
        self.blocks = [0] * (MAX_ORDER + 1)
        self.largest = _Largest()
        self.rows = []

    def change(self, first, end, sign):
        """Counts the free run [first, end) (pages) in (sign 1) or out (sign -1), clipped."""
        a, b = max(first, self.low), min(end, self.high)
        if a >= b:
            return
        self.free += sign * (b - a)
        self.extents += sign
        for order, n in enumerate(block_counts(a, b)):
            if n:
                self.blocks[order] += sign * n
        if sign > 0:
            self.largest.add(b - a)
        else:
            self.largest.remove(b - a)

    def record(self, position):
        row = (position, self.free, self.extents, self.largest.top(), tuple(self.blocks))
        if self.rows and self.rows[-1][1:] == row[1:]:
            return
        self.rows.append(row)

    def timeline(self):
        rows = self.rows
        return ZoneTimeline(self.name, np.array([r[0] for r in rows], dtype=np.int64),
                            np.array([r[1] for r in rows], dtype=np.int64),
                            np.array([r[2] for r in rows], dtype=np.int64),
                            np.array([r[3] for r in rows], dtype=np.int64),
                            np.array([r[4] for r in rows], dtype=np.int64).reshape(
                                len(rows), MAX_ORDER + 1))


class _Runs:
    """Coalesced free runs [start, end) in pages, sorted; `take` and `give` return the runs
    removed and added so the figures can be updated by difference."""

    def __init__(self, runs):
        self.starts = [a for a, _ in runs]
        self.ends = [b for _, b in runs]

    def take(self, start, end):
        i = bisect_right(self.starts, start) - 1
        a, b = self.starts[i], self.ends[i]
        del self.starts[i], self.ends[i]
        added = [(x, y) for x, y in ((a, start), (end, b)) if x < y]
        for k, (x, y) in enumerate(added):
            self.starts.insert(i + k, x)
            self.ends.insert(i + k, y)
        return [(a, b)], added

    def give(self, start, end):
        i = bisect_right(self.starts, start)
        removed = []
        if i > 0 and self.ends[i - 1] == start:
            i -= 1
            removed.append((self.starts[i], self.ends[i]))
            start = self.starts[i]
            del self.starts[i], self.ends[i]
        if i < len(self.starts) and self.starts[i] == end:
            removed.append((self.starts[i], self.ends[i]))
            end = self.ends[i]
            del self.starts[i], self.ends[i]
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        return removed, [(start, end)]


class _Hole:
    """One region's live figures: free pages, ranges, largest."""

    def __init__(self, key, runs):
        self.key = key
        self.runs = _Runs(runs)
        self.free = sum(b - a for a, b in runs)
        self.count = len(runs)
        self.largest = _Largest()
        for a, b in runs:
            self.largest.add(b - a)
        self.rows = []

    def apply(self, removed, added):
        for a, b in removed:
            self.free -= b - a
            self.count -= 1
            self.largest.remove(b - a)
        for a, b in added:
            self.free += b - a
            self.count += 1
            self.largest.add(b - a)

    def record(self, position):
        row = (position, self.free, self.count, self.largest.top())
        if not self.rows or self.rows[-1][1:] != row[1:]:
            self.rows.append(row)

    def timeline(self):
        context, region, life = self.key
        cols = list(zip(*self.rows)) if self.rows else [[], [], [], []]
        return HoleTimeline(context, region, life,
                            *(np.array(c, dtype=np.int64) for c in cols))


def _pages_of(event):
    return [(int(a) // PAGE, int(a) // PAGE + int(p)) for a, p in
            zip(event.items["addr"].tolist(), event.items["pages"].tolist())]


def build(trace):
    """The Timeline of a BulkTrace that frag.replay_series accepted."""
    names = ("pmm_alloc", "pmm_free", "vmm_reserve", "vmm_release", "context_destroy")
    arrays = [trace.of(n) for n in names]
    kind = np.concatenate([np.full(len(a), k, np.int8) for k, a in enumerate(arrays)])
    position = np.concatenate([a["position"] for a in arrays]).astype(np.int64)
    row = np.concatenate([np.arange(len(a)) for a in arrays])
    order = np.argsort(position, kind="stable")
    kind, position, row = kind[order].tolist(), position[order].tolist(), row[order].tolist()
    columns = [{f: a[f].tolist() for f in ("addr", "pages", "held", "context", "region")
                if f in (a.dtype.names or ())} for a in arrays]

    snapshots = trace.others_named("pmm_snapshot", "vmm_snapshot")
    zones, physical = None, None
    holes, live, lives = [], {}, {}
    s = 0
    for i in progressbar.bar(range(len(kind) + 1), desc="exact timeline", unit="event"):
        at = position[i] if i < len(kind) else None
        while s < len(snapshots) and (at is None or snapshots[s].position < at):
            e = snapshots[s]
            s += 1
            if e.name == "pmm_snapshot":
                if physical is None:
                    zones = [_Zone(name, low // PAGE, high // PAGE)
                             for name, low, high in zone_ranges(e)]
                    runs = _pages_of(e)
                    physical = _Runs(runs)
                    for z in zones:
                        for a, b in runs:
                            z.change(a, b, 1)
                        z.record(e.position)
            else:
                key = (e.context, e.region)
                if key not in live:
                    hole = _Hole(key + (lives.get(e.context, 0),), _pages_of(e))
                    hole.record(e.position)
                    live[key] = hole
                    holes.append(hole)
        if at is None:
            break
        k, r = kind[i], row[i]
        c = columns[k]
        if k == 4:  # context_destroy: its regions' timelines end
            context = c["context"][r]
            for key in [key for key in live if key[0] == context]:
                del live[key]
            lives[context] = lives.get(context, 0) + 1
            continue
        start = int(c["addr"][r]) // PAGE
        # a pmm event covers the run the allocator holds (`held`: its rounding included)
        end = start + int(c["held"][r] if k < 2 else c["pages"][r])
        if k < 2:
            if physical is None:
                continue
            removed, added = (physical.take if k == 0 else physical.give)(start, end)
            span_low = min(a for a, _ in removed + added)
            span_high = max(b for _, b in removed + added)
            for z in zones:
                if span_low < z.high and span_high > z.low:
                    for a, b in removed:
                        z.change(a, b, -1)
                    for a, b in added:
                        z.change(a, b, 1)
                    z.record(at)
        else:
            hole = live.get((c["context"][r], c["region"][r]))
            if hole is None:
                continue
            removed, added = (hole.runs.take if k == 2 else hole.runs.give)(start, end)
            hole.apply(removed, added)
            hole.record(at)
    return Timeline({z.name: z.timeline() for z in zones or []}, [h.timeline() for h in holes])


def replay(trace):
    """frag.replay_series (which checks every step and snapshot) with its exact Timeline."""
    series = replay_series(trace)
    series.timeline = build(trace)
    return series


def envelope(x, y, low, high, columns):
    """The minimum and maximum a step function takes in each of `columns` equal columns of
    [low, high): y[i] holds from x[i] (x sorted) until x[i + 1]; before x[0] it is undefined
    (those columns are NaN). Returns (column centres, minima, maxima): what a plot must draw so
    that no value, however short-lived, falls between pixels."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    width = (high - low) / columns if high > low else 1.0
    centres = low + (np.arange(columns) + 0.5) * width
    lo = np.full(columns, np.inf)
    hi = np.full(columns, -np.inf)
    if len(x):
        column = np.clip(((x - low) / width).astype(np.int64), 0, columns - 1)
        np.minimum.at(lo, column, y)
        np.maximum.at(hi, column, y)
        # the value in force where each column begins: the last step at or before its left edge
        edges = low + np.arange(columns) * width
        before = np.searchsorted(x, edges, side="right") - 1
        carried = before >= 0
        carry = y[np.maximum(before, 0)]
        lo = np.where(carried, np.minimum(lo, carry), lo)
        hi = np.where(carried, np.maximum(hi, carry), hi)
    empty = ~np.isfinite(lo)
    lo[empty], hi[empty] = np.nan, np.nan
    return centres, lo, hi
