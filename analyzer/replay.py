"""Replays allocator events and checks the result against the kernel's own snapshots.

Between two snapshots the kernel emits every change to the state a snapshot records (trace/
FORMAT.md, "Where the kernel emits each event"), so replaying them from one snapshot must give the
next one exactly. Two states are replayed:

  - physical: the free pages of the pmm. pmm_alloc removes a run (it must be free), pmm_free adds
    one (it must not be). A pmm_snapshot lists the free extents (split at zone boundaries, which
    replay does not know about, so both sides are compared as maximal runs).
  - virtual: per (context, region), the free pages of the region. vmm_reserve removes a run,
    vmm_release adds one. A context is followed from its first vmm_snapshot on (the trace does not
    carry region bounds, so a region's free space is known only once snapshotted); destroying it
    forgets it.

Replay starts at the first snapshot; everything before it (the boot's own setup) is skipped.
"""

from bisect import bisect_right
from dataclasses import dataclass, field

from .events import FORMAT

PAGE = FORMAT.constants["TRACE_PAGE_BYTES"]


class FreeSet:
    """Disjoint, coalesced free runs [start, end) in bytes, sorted by start."""

    def __init__(self, runs=()):
        self.starts, self.ends = [], []
        for start, end in sorted(runs):
            self.add(start, end)

    def runs(self):
        return list(zip(self.starts, self.ends))

    def _index_containing(self, addr):
        i = bisect_right(self.starts, addr) - 1
        return i if i >= 0 and addr < self.ends[i] else None

    def remove(self, start, end):
        """Takes [start, end) out; it must lie inside one free run. Returns an error or None."""
        i = self._index_containing(start)
        if i is None or end > self.ends[i]:
            return f"[{start:#x}, {end:#x}) is not free"
        run_start, run_end = self.starts[i], self.ends[i]
        del self.starts[i], self.ends[i]
        for piece in ((end, run_end), (run_start, start)):
            if piece[0] < piece[1]:
                self.starts.insert(i, piece[0])
                self.ends.insert(i, piece[1])
        return None

    def add(self, start, end):
        """Puts [start, end) back; no page of it may be free. Returns an error or None."""
        i = bisect_right(self.starts, start)
        if (i > 0 and self.ends[i - 1] > start) or (i < len(self.starts) and self.starts[i] < end):
            return f"[{start:#x}, {end:#x}) is already partly free"
        if i > 0 and self.ends[i - 1] == start:
            i -= 1
            start = self.starts[i]
            del self.starts[i], self.ends[i]
        if i < len(self.starts) and self.starts[i] == end:
            end = self.ends[i]
            del self.starts[i], self.ends[i]
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        return None


def _snapshot_set(items):
    return FreeSet((item.addr, item.addr + item.pages * PAGE) for item in items)


@dataclass
class ReplayReport:
    snapshots_checked: int = 0
    events_replayed: int = 0
    problems: list = field(default_factory=list)

    def problem(self, seq, text):
        if len(self.problems) < 20:
            self.problems.append(f"seq {seq}: {text}")


def check_replay(events):
    """Replays `events` (TraceReader.events()) and returns a ReplayReport."""
    report = ReplayReport()
    physical = None
    virtual = {}  # (context, region) -> FreeSet

    def apply(state, error, seq, what):
        report.events_replayed += 1
        if error:
            report.problem(seq, f"{what}: {error}")

    for e in events:
        kind = type(e).__name__
        if kind == "pmm_snapshot":
            snap = _snapshot_set(e.items)
            if physical is not None:
                report.snapshots_checked += 1
                if physical.runs() != snap.runs():
                    report.problem(e.seq, "pmm replay differs from the snapshot: "
                                   f"{len(physical.runs())} runs vs {len(snap.runs())}")
            if sum(i.pages for i in e.items) != e.free_pages:
                report.problem(e.seq, "pmm snapshot items do not add up to free_pages")
            physical = snap
        elif kind == "vmm_snapshot":
            key = (e.context, e.region)
            snap = _snapshot_set(e.items)
            if key in virtual:
                report.snapshots_checked += 1
                if virtual[key].runs() != snap.runs():
                    report.problem(e.seq, f"vmm replay of context {e.context} region {e.region} "
                                   "differs from the snapshot")
            virtual[key] = snap
        elif physical is not None and kind == "pmm_alloc":
            apply(physical, physical.remove(e.addr, e.addr + e.pages * PAGE), e.seq, "pmm_alloc")
        elif physical is not None and kind == "pmm_free":
            apply(physical, physical.add(e.addr, e.addr + e.pages * PAGE), e.seq, "pmm_free")
        elif kind in ("vmm_reserve", "vmm_release") and (e.context, e.region) in virtual:
            state = virtual[(e.context, e.region)]
            run = (e.addr, e.addr + e.pages * PAGE)
            error = state.remove(*run) if kind == "vmm_reserve" else state.add(*run)
            apply(state, error, e.seq, kind)
        elif kind == "context_destroy":
            for key in [k for k in virtual if k[0] == e.context]:
                del virtual[key]
    return report
