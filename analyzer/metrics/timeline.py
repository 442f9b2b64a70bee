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
  - while the replay runs, a change costs one logged step (a tuple of the runs the FreeSet
    reports); finish() computes every figure of every step in bulk (run_figures.py: prefix sums,
    the buddy decomposition of every changed run at once, a segment tree for the largest run),
    so the replay's per-event work does not grow with the figures kept.
"""

from dataclasses import dataclass
from itertools import chain

import numpy as np

from .frag import indices
from .run_figures import changed_rows, running_figures
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


class Recorder:
    """The timelines, kept by watching the free sets of the one replay (replay.Replay calls the
    methods below as its state changes; `position` is the record index of the event it is
    replaying, which the driver sets before each event). While the replay runs, each change of a
    watched set is only logged, as a step (position, runs removed, runs added, reset); `finish()`
    computes every row of the Timeline from the logs at once (run_figures.py)."""

    def __init__(self):
        self.position = 0
        self.zones = None  # [(name, first page, end page)], from the pmm's first snapshot
        self.pmm = None  # the replay's pmm FreeSet being watched, None while unknown
        self.pmm_steps = []  # the steps of the pmm, in bytes
        self.holes = []  # (key, steps) of every region's life, in the order they appear
        self.live = {}  # (context, region) -> [its steps, the replay's FreeSet being watched]
        self.lives = {}  # context id -> contexts of that id destroyed so far
        self.phase_ends = []  # (position, phase name, pmm free runs in bytes) of each phase_end

    def pmm_known(self, free, zones):
        """The replay took a pmm_snapshot's free set as its state (zones: zone_ranges)."""
        if self.pmm is not None:
            self.pmm.watch = None
        if self.zones is None:
            self.zones = [(name, low // PAGE, high // PAGE) for name, low, high in zones]
            self.pmm_steps.append((self.position, (), free.runs(), True))
        elif self.pmm is None or (self.pmm.starts, self.pmm.ends) != (free.starts, free.ends):
            # re-learned after a loss: counted afresh
            self.pmm_steps.append((self.position, (), free.runs(), True))
        self.pmm = free
        free.watch = self._pmm_changed

    def _pmm_changed(self, removed, added):
        self.pmm_steps.append((self.position, removed, added, False))

    def region_known(self, context, region, free):
        """The replay took a vmm_snapshot's free set as the state of (context, region)."""
        key = (context, region)
        entry = self.live.get(key)
        if entry is None:
            steps = [(self.position, (), free.runs(), True)]
            self.holes.append((key + (self.lives.get(context, 0),), steps))
            entry = self.live[key] = [steps, None]
        else:
            steps, old = entry
            if old is not None:
                old.watch = None
            if old is None or (old.starts, old.ends) != (free.starts, free.ends):
                steps.append((self.position, (), free.runs(), True))
        entry[1] = free

        def changed(removed, added):
            steps.append((self.position, removed, added, False))
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
        """The Timeline; the recorder stops watching and lets go of its logs. (The replay that
        holds it refers to itself through its handlers, so it is freed only by a garbage
        collection: logs kept until then would be millions of objects for that collection to
        walk.)"""
        timeline = Timeline(_zone_timelines(self.zones or [], self.pmm_steps),
                            _hole_timelines(self.holes))
        if self.pmm is not None:
            self.pmm.watch = None
        for entry in self.live.values():
            entry[0] = None
            if entry[1] is not None:
                entry[1].watch = None
        self.pmm_steps, self.holes = None, None
        return timeline


class _Log:
    """A list of steps as numpy arrays: per step its position and whether it is a reset; per
    change (removed runs before added ones within a step) its step, first and end page, sign."""

    def __init__(self, steps):
        positions, removed, added, reset = zip(*steps) if steps else ((), (), (), ())
        self.positions = np.fromiter(positions, dtype=np.int64, count=len(steps))
        self.reset = np.fromiter(reset, dtype=bool, count=len(steps))
        parts = [self._changes(removed, -1), self._changes(added, 1)]
        step, first, end, sign = (np.concatenate(column) for column in zip(*parts))
        # stable: within a step the removed runs (first in the concatenation) come first, as
        # they were applied
        order = np.argsort(step, kind="stable")
        self.step, self.first, self.end, self.sign = (step[order], first[order], end[order],
                                                      sign[order])

    @staticmethod
    def _changes(runs_per_step, sign):
        counts = np.fromiter(map(len, runs_per_step), dtype=np.int64, count=len(runs_per_step))
        ends = chain.from_iterable(chain.from_iterable(runs_per_step))
        try:
            pages = (np.fromiter(ends, dtype=np.uint64, count=2 * int(counts.sum())) //
                     np.uint64(PAGE)).astype(np.int64)
        except OverflowError:  # a region ending at 2^64: each run's pages in Python's integers
            pages = np.fromiter((x // PAGE for runs in runs_per_step for run in runs for x in run),
                                dtype=np.int64, count=2 * int(counts.sum()))
        step = np.repeat(np.arange(len(runs_per_step), dtype=np.int64), counts)
        return step, pages[0::2], pages[1::2], np.full(len(step), sign, dtype=np.int64)


def _zone_timelines(zones, steps):
    """zone name -> ZoneTimeline: a zone takes a row at each reset of the pmm (a snapshot taken as
    the state) and at each step whose runs touch it (its changes clipped to the zone), kept when a
    figure changed."""
    log = _Log(steps)
    timelines = {}
    for name, low, high in zones:
        first, end = np.maximum(log.first, low), np.minimum(log.end, high)
        inside = first < end
        rows = log.reset.copy()
        rows[log.step[inside]] = True
        renumbered = np.cumsum(rows) - 1
        free, extents, largest, blocks = running_figures(
            log.reset[rows], renumbered[log.step[inside]], first[inside], end[inside],
            log.sign[inside], with_blocks=True)
        keep = changed_rows((free, extents, largest, blocks), np.zeros(len(free), dtype=bool))
        timelines[name] = ZoneTimeline(name, log.positions[rows][keep], free[keep], extents[keep],
                                       largest[keep], blocks[keep])
    return timelines


def _hole_timelines(holes):
    """[HoleTimeline] of every region's life: a row at each reset and each change, kept when a
    figure changed. All lives are computed in one log, one after the other."""
    log = _Log([step for _, steps in holes for step in steps])
    free, ranges, largest, _ = running_figures(log.reset, log.step, log.first, log.end, log.sign,
                                               with_blocks=False)
    bounds = np.cumsum([0] + [len(steps) for _, steps in holes])
    new_life = np.zeros(len(free), dtype=bool)
    new_life[bounds[:-1][bounds[:-1] < len(free)]] = True
    keep = changed_rows((free, ranges, largest), new_life)
    timelines = []
    for (key, _), begin, end in zip(holes, bounds[:-1], bounds[1:]):
        kept = begin + np.flatnonzero(keep[begin:end])
        context, region, life = key
        timelines.append(HoleTimeline(context, region, life, log.positions[kept], free[kept],
                                      ranges[kept], largest[kept]))
    return timelines


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
