"""The fragmentation replay of analyzer/frag.py, done for all events at once with numpy.

Each address space (physical memory; each context's region, per life of the context) is cut at
every address an event or snapshot names, into segments no event splits. Every take (pmm_alloc,
vmm_reserve) and give (pmm_free, vmm_release) then covers whole segments, and the replay is
valid exactly when, on every segment, takes and gives alternate starting from the segment's
state in the space's first snapshot (a take needs it free, a give needs it taken). The state at
any later point is that first state flipped once per event before the point, which gives every
snapshot check and every sample without replaying one event at a time.

`replay` returns the same FragSeries as frag.replay_series_stepwise, or None when anything does
not fit (an invalid step, a snapshot that differs, an event covering more segments than the
budget allows): the caller then runs the step-by-step replay, which words the exact error.
"""

import numpy as np

from . import frag
from .replay import bad_zone_ranges, zone_ranges

PAGE = frag.PAGE
SEGMENT_OPS_BUDGET = 40_000_000  # beyond this many (event, segment) pairs: step by step


class _Space:
    """One address space: its takes/gives after its first snapshot, and its snapshots."""

    def __init__(self, positions, starts, ends, takes, snapshots, active_until):
        self.positions, self.takes = positions, takes
        self.snapshots = snapshots  # [(position, starts, ends)], first = the initial state
        self.active_from = snapshots[0][0]
        self.active_until = active_until
        bounds = [starts, ends] + [s for _, a, b in snapshots for s in (a, b)]
        self.points = np.unique(np.concatenate(bounds).astype(np.uint64))
        first = np.searchsorted(self.points, starts)
        last = np.searchsorted(self.points, ends)
        self.counts = (last - first).astype(np.int64)
        self.first = first

    def expand(self):
        """Checks that takes and gives alternate on every segment from the first snapshot's
        state and that every later snapshot equals the state there. False when not."""
        counts = self.counts
        total = int(counts.sum())
        self.segments = max(len(self.points) - 1, 0)
        offsets = np.cumsum(counts) - counts
        # (event, segment) pairs in stream order
        self.seg = (np.repeat(self.first - offsets, counts) + np.arange(total)).astype(np.int64)
        self.pos = np.repeat(self.positions, counts)
        self.initial = self.coverage(*self.snapshots[0][1:])
        by_segment = _stable_argsort_u32(self.seg)
        seg, take = self.seg[by_segment], np.repeat(self.takes, counts)[by_segment]
        # alternation: each segment's first event fits its first state, and no two events in
        # a row on one segment are both takes or both gives
        first_of_segment = np.concatenate([[True], seg[1:] != seg[:-1]])[:total]
        if (take[first_of_segment] != self.initial[seg[first_of_segment]]).any():
            return False
        if (~first_of_segment[1:] & (take[1:] == take[:-1])).any():
            return False
        self.rewind()
        for position, a, b in self.snapshots[1:]:
            if (self.free_at(position) != self.coverage(a, b)).any():
                return False
        return True

    def coverage(self, starts, ends):
        """Which segments the runs [starts, ends) cover."""
        delta = np.zeros(len(self.points) + 1, dtype=np.int64)
        np.add.at(delta, np.searchsorted(self.points, starts), 1)
        np.add.at(delta, np.searchsorted(self.points, ends), -1)
        return np.cumsum(delta)[:self.segments] > 0

    def rewind(self):
        """Back to the first snapshot's state, for a sweep of free_at in position order."""
        self.state = self.initial.copy()
        self.cursor = 0

    def free_at(self, position):
        """Segment states with every event before `position` applied. Positions must not
        decrease between calls (until rewind): each call applies only the events since the
        last, flipping each segment once per event on it."""
        end = int(np.searchsorted(self.pos, position))
        if end > self.cursor:
            flips = np.bincount(self.seg[self.cursor:end], minlength=self.segments)
            self.state ^= (flips & 1).astype(bool)
            self.cursor = end
        return self.state

    def runs_at(self, position):
        """(starts, ends) in bytes of the free runs just before `position` (same order rule)."""
        free = self.free_at(position)
        if not len(free):
            return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
        edges = np.diff(np.concatenate([[0], free.astype(np.int8), [0]]))
        return self.points[np.flatnonzero(edges == 1)], self.points[np.flatnonzero(edges == -1)]


def _stable_argsort_u32(keys):
    """np.argsort(keys, kind="stable") for keys below 2^32, as two 16-bit radix passes (numpy
    sorts 16-bit integers by radix: linear time, several times faster than a merge sort)."""
    if not len(keys) or int(keys.max()) < 0x10000:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    low = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    high = np.argsort((keys[low] >> 16).astype(np.uint16), kind="stable")
    return low[high]


def _ops(trace, take_name, give_name, keys_of, pages_field="pages"):
    """positions, starts, ends, takes, key columns of two event types merged in stream order;
    each run is `pages_field` pages long."""
    a, b = trace.of(take_name), trace.of(give_name)
    positions = np.concatenate([a["position"], b["position"]])
    order = np.argsort(positions, kind="stable")
    starts = np.concatenate([a["addr"], b["addr"]]).astype(np.uint64)
    pages = np.concatenate([a[pages_field], b[pages_field]]).astype(np.uint64)
    ends = starts + pages * np.uint64(PAGE)
    takes = np.concatenate([np.ones(len(a), bool), np.zeros(len(b), bool)])
    keys = [np.concatenate([keys_of(a)[i], keys_of(b)[i]])[order] for i in range(len(keys_of(a)))]
    return positions[order], starts[order], ends[order], takes[order], pages[order], keys


class _Unfit(Exception):
    """Something the bulk replay does not vouch for: the stepwise replay takes over."""


def _snapshot_runs(e):
    """(position, starts, ends) of a snapshot whose items are ordered, disjoint and non-empty."""
    starts = e.items["addr"].astype(np.uint64)
    pages = e.items["pages"].astype(np.uint64)
    ends = starts + pages * np.uint64(PAGE)
    if (pages == 0).any() or (ends <= starts).any() or (starts[1:] < ends[:-1]).any():
        raise _Unfit()
    return e.position, starts, ends


def replay(trace, samples_wanted=frag.SAMPLES_WANTED):
    try:
        return _replay(trace, samples_wanted)
    except _Unfit:
        return None


def _replay(trace, samples_wanted):
    end_position = len(trace.headers)
    # physical memory
    # the runs the allocator holds, its rounding included (`held`, not the pages asked for)
    positions, starts, ends, takes, pages, _ = _ops(trace, "pmm_alloc", "pmm_free", lambda a: [],
                                                    "held")
    pmm_snapshots = trace.others_named("pmm_snapshot")
    snaps = [_snapshot_runs(e) for e in pmm_snapshots]
    # The pmm's zones, stated by every snapshot: the same each time, or the stepwise replay says
    # which snapshot differs.
    zones = {zone_ranges(e) for e in pmm_snapshots}
    if len(zones) > 1 or any(bad_zone_ranges(z) for z in zones):
        return None
    zones = zones.pop() if zones else None
    spaces = {}
    if snaps:
        live = positions > snaps[0][0]
        spaces["phys"] = (positions[live], starts[live], ends[live], takes[live], pages[live],
                          snaps, end_position)
    # virtual: (context, region, life), a life ending at each context_destroy
    destroys = trace.of("context_destroy")
    destroy_pos = {}
    for c, p in zip(destroys["context"].tolist(), destroys["position"].tolist()):
        destroy_pos.setdefault(c, []).append(p)

    def life(context, position):
        return int(np.searchsorted(destroy_pos.get(context, []), position))

    positions, starts, ends, takes, pages, (ctx, region) = _ops(
        trace, "vmm_reserve", "vmm_release", lambda a: [a["context"], a["region"]])
    vsnaps = {}
    for e in trace.others_named("vmm_snapshot"):
        key = (e.context, e.region, life(e.context, e.position))
        vsnaps.setdefault(key, []).append(_snapshot_runs(e))
    if len(positions):
        lives = np.zeros(len(positions), dtype=np.int64)
        for c, ps in destroy_pos.items():
            mine = ctx == c
            lives[mine] = np.searchsorted(ps, positions[mine])
    for key, snap_list in vsnaps.items():
        context, reg, n = key
        mine = ((ctx == context) & (region == reg) & (lives == n) & (positions > snap_list[0][0])
                if len(positions) else np.zeros(0, bool))
        until = destroy_pos.get(context, [])[n] if n < len(destroy_pos.get(context, [])) \
            else end_position
        spaces[key] = (positions[mine], starts[mine], ends[mine], takes[mine], pages[mine],
                       snap_list, until)

    built = {}
    budget = SEGMENT_OPS_BUDGET
    for key, (p, s, e, t, n, snap_list, until) in spaces.items():
        if (n == 0).any() or (e <= s).any():
            return None  # empty or wrapping runs: the stepwise replay says which
        space = _Space(p, s, e, t, snap_list, until)
        budget -= int(space.counts.sum())
        if budget < 0 or not space.expand():
            return None
        built[key] = space
    return _series(trace, built, zones, samples_wanted)


def _series(trace, spaces, zones, samples_wanted):
    phys = spaces.get("phys")
    replayed = np.sort(np.concatenate([s.positions for s in spaces.values()] +
                                      [np.zeros(0, np.int64)]))
    every = max(1, (len(trace.of("pmm_alloc")) + len(trace.of("pmm_free")) +
                    len(trace.of("vmm_reserve")) + len(trace.of("vmm_release")) +
                    len(trace.of("context_destroy"))) // samples_wanted)
    series = frag.FragSeries(events_replayed=len(replayed))
    points = []  # (position the state is taken before, position recorded)
    if phys is not None:
        points += [(p, p) for p, _, _ in phys.snapshots]
        tick = replayed[every - 1::every]
        points += [(p + 1, p) for p in tick[tick > phys.active_from].tolist()]
    points.sort(key=lambda x: (x[1], x[0]))
    phases = _phase_labels(trace, [p for _, p in points])
    for space in spaces.values():
        space.rewind()
    seqs, stamps = trace.headers["seq"], trace.headers["timestamp"]
    for (before, position), phase in zip(points, phases):
        starts, ends = phys.runs_at(before)
        holes = {}
        for key, space in spaces.items():
            if key != "phys" and space.active_from < before <= space.active_until:
                a, b = space.runs_at(before)
                sizes = (b - a) // np.uint64(PAGE)
                holes[key[:2]] = (int(sizes.sum()), len(sizes), int(sizes.max()) if len(sizes)
                                  else 0)
        series.samples.append(frag.Sample(position, int(seqs[position]), int(stamps[position]),
                                          phase, frag.zone_metrics(starts, ends, zones), holes))
    if phys is not None:
        phys.rewind()
        for e in trace.others_named("phase_end"):
            if e.position > phys.active_from:
                a, b = phys.runs_at(e.position)
                series.phase_ends.append((e.position, e.text, list(zip(a.tolist(), b.tolist()))))
    end = len(trace.headers)
    for key, space in spaces.items():
        if key != "phys" and space.active_until == end:
            a, b = space.runs_at(end)
            series.final_virtual[key[:2]] = list(zip(a.tolist(), b.tolist()))
    return series


def _phase_labels(trace, positions):
    """The innermost open phase at each position (positions sorted)."""
    events = trace.others_named("phase_begin", "phase_end")
    labels, stack, i = [], [], 0
    for position in positions:
        while i < len(events) and events[i].position < position:
            e = events[i]
            if e.name == "phase_begin":
                stack.append(e.text)
            elif stack and stack[-1] == e.text:
                stack.pop()
            i += 1
        labels.append(stack[-1] if stack else "")
    return labels
