"""Exact fragmentation timelines: every change, never a sample.

For physical memory, per zone, and for each context's virtual regions, the figures that
analyzer/metrics/frag.py defines (free pages, free extents, largest free extent, Linux's buddy block
counts per order and the indices computed from them; free pages, free ranges and largest hole of
a virtual region) are recomputed after *every* event that changes them, so a counter, a CSV row
or a plot can show the true minimum and maximum however briefly they held.

There is no replay here: a Recorder is handed to the one replay of the trace (analyzer/checking/replay.py,
the one `check` runs; analyzer/metrics/state.py drives it) and watches the free sets that replay keeps
(FreeSet.watch), so every figure follows from the same checked state, step for step.

Invariants:
  - a timeline starts at its space's first snapshot (the pmm's first `pmm_snapshot`; a region's
    first `vmm_snapshot` in each life of its context) and takes one step per event after it that
    changes the space (pmm_alloc, pmm_free; vmm_reserve, vmm_release); a region's timeline ends
    at its context's `context_destroy`; after lost events a space is counted afresh from its
    next snapshot (the replay re-learns it there);
  - `positions[i]` is the record index of the event after which `values[i]` hold (the first entry
    is the snapshot's position); positions never decrease; a row is kept only when a figure
    changed;
  - the cost is O(MAX_ORDER) per change for the buddy decomposition of the at most three runs an
    event changes, plus O(log R) for the largest run (a lazy max-heap).
"""

import heapq
from dataclasses import dataclass

import numpy as np

from .frag import MAX_ORDER, block_split, indices
from ..definitions.events import PAGE


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
        return indices(self.blocks)[0]

    def fragmentation(self):
        """Linux's fragmentation index, (rows, orders), from the block counts."""
        return indices(self.blocks)[1]


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
        low, high = self.low, self.high
        a = first if first > low else low
        b = end if end < high else high
        if a >= b:
            return
        self.free += sign * (b - a)
        self.extents += sign
        rising, falling, top = block_split(a, b)
        blocks = self.blocks
        for order in rising:
            blocks[order] += sign
        for order in falling:
            blocks[order] += sign
        blocks[MAX_ORDER] += sign * top
        if sign > 0:
            self.largest.add(b - a)
        else:
            self.largest.remove(b - a)

    def record(self, position):
        free, extents, largest, blocks = (self.free, self.extents, self.largest.top(),
                                          tuple(self.blocks))
        rows = self.rows
        if rows:
            last = rows[-1]
            if (last[1] == free and last[2] == extents and last[3] == largest and
                    last[4] == blocks):
                return
        rows.append((position, free, extents, largest, blocks))

    def timeline(self):
        rows = self.rows
        return ZoneTimeline(self.name, np.array([r[0] for r in rows], dtype=np.int64),
                            np.array([r[1] for r in rows], dtype=np.int64),
                            np.array([r[2] for r in rows], dtype=np.int64),
                            np.array([r[3] for r in rows], dtype=np.int64),
                            np.array([r[4] for r in rows], dtype=np.int64).reshape(
                                len(rows), MAX_ORDER + 1))


class _Hole:
    """One region's live figures: free pages, ranges, largest."""

    def __init__(self, key, runs):
        self.key = key
        self.rows = []
        self.reset(runs)

    def reset(self, runs):
        """Counts the region afresh from its free runs [(first page, end page)]."""
        self.free = sum(b - a for a, b in runs)
        self.count = len(runs)
        self.largest = _Largest()
        for a, b in runs:
            self.largest.add(b - a)

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


def _pages(runs):
    return [(a // PAGE, b // PAGE) for a, b in runs]


class Recorder:
    """The timelines, kept by watching the free sets of the one replay (replay.Replay calls the
    methods below as its state changes; `position` is the record index of the event it is
    replaying, which the driver sets before each event). `finish()` gives the Timeline."""

    def __init__(self):
        self.position = 0
        self.zones = None  # [_Zone], from the pmm's first snapshot
        self.pmm = None  # the replay's pmm FreeSet being watched, None while unknown
        self.holes = []  # every _Hole, in the order their spaces appear
        self.live = {}  # (context, region) -> [_Hole, the replay's FreeSet being watched]
        self.lives = {}  # context id -> contexts of that id destroyed so far
        self.phase_ends = []  # (position, phase name, pmm free runs in bytes) of each phase_end

    def pmm_known(self, free, zones):
        """The replay took a pmm_snapshot's free set as its state (zones: zone_ranges)."""
        if self.pmm is not None:
            self.pmm.watch = None
        if self.zones is None:
            self.zones = [_Zone(name, low // PAGE, high // PAGE) for name, low, high in zones]
            self._count_all(free)
        elif self.pmm is None or (self.pmm.starts, self.pmm.ends) != (free.starts, free.ends):
            for z in self.zones:  # re-learned after a loss: count it afresh
                z.free = z.extents = 0
                z.blocks = [0] * (MAX_ORDER + 1)
                z.largest = _Largest()
            self._count_all(free)
        self.pmm = free
        free.watch = self._pmm_changed

    def _count_all(self, free):
        runs = _pages(free.runs())
        for z in self.zones:
            for a, b in runs:
                z.change(a, b, 1)
            z.record(self.position)

    def _pmm_changed(self, removed, added):
        # A zone takes a row only when one of the runs touches it: a zone no run touches keeps
        # its figures, and record() would drop the unchanged row anyway.
        changes = [(a // PAGE, b // PAGE, -1) for a, b in removed]
        changes += [(a // PAGE, b // PAGE, 1) for a, b in added]
        for z in self.zones:
            low, high = z.low, z.high
            touched = False
            for a, b, sign in changes:
                if a < high and b > low:
                    z.change(a, b, sign)
                    touched = True
            if touched:
                z.record(self.position)

    def region_known(self, context, region, free):
        """The replay took a vmm_snapshot's free set as the state of (context, region)."""
        key = (context, region)
        entry = self.live.get(key)
        if entry is None:
            hole = _Hole(key + (self.lives.get(context, 0),), _pages(free.runs()))
            hole.record(self.position)
            self.holes.append(hole)
            entry = self.live[key] = [hole, None]
        else:
            hole, old = entry
            if old is not None:
                old.watch = None
            if old is None or (old.starts, old.ends) != (free.starts, free.ends):
                hole.reset(_pages(free.runs()))
                hole.record(self.position)
        entry[1] = free

        def changed(removed, added):
            hole.apply(_pages(removed), _pages(added))
            hole.record(self.position)
        free.watch = changed

    def context_destroyed(self, context):
        for key in [key for key in self.live if key[0] == context]:
            free = self.live.pop(key)[1]
            if free is not None:
                free.watch = None
        self.lives[context] = self.lives.get(context, 0) + 1

    def lost(self):
        """Events were lost: nothing is known until the next snapshots."""
        if self.pmm is not None:
            self.pmm.watch = None
            self.pmm = None
        for entry in self.live.values():
            if entry[1] is not None:
                entry[1].watch = None
                entry[1] = None

    def phase_end(self, name):
        if self.pmm is not None:
            self.phase_ends.append((self.position, name, self.pmm.runs()))

    def final_virtual(self):
        """(context, region) -> free runs in bytes at the end, of each region still live."""
        return {key: free.runs() for key, (_, free) in self.live.items() if free is not None}

    def finish(self):
        return Timeline({z.name: z.timeline() for z in self.zones or []},
                        [h.timeline() for h in self.holes])


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
