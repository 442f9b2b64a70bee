"""Replays allocator events and checks the result against the kernel's own snapshots.

The kernel emits every change to the state a snapshot records (trace/FORMAT.md, "Where the kernel
emits each event"), so replaying the events must give every snapshot exactly. Two states:

  - physical: the free pages of the pmm. pmm_alloc removes a run (it must be free), pmm_free adds
    one (it must not be). Known from the first pmm_snapshot on (the pmm's starting map is not in
    the trace); a pmm_snapshot lists free extents split at zone boundaries, so both sides are
    compared as maximal runs. Each pmm_snapshot also says where the zones end (zone_ranges): the
    ends must be page-aligned and non-decreasing, the same in every snapshot (the pmm's zones
    never change), no snapshot extent may cross one, and from the first snapshot on every
    pmm_alloc must lie inside the zone its `zone` field names.
  - virtual: every context from its creation. context_create is followed by one vmm_region per
    region, all free: that is the starting state. Per region the replay keeps the free runs and
    the reservations (start -> pages): vmm_reserve must take free pages, vmm_release must give
    back exactly one whole reservation, and vmm_brk announces that the next reserve or release
    of that context grows or shrinks the heap reservation instead. A process's context may release
part of a reservation (munmap cuts reservations anywhere, kernel/mm/vmm_ranges.c).

Objects handed out and taken back are paired like reservations: every pmm_free, kfree,
slab_free, pt_free and vmm_unmap must undo one earlier pmm_alloc, kmalloc, slab_alloc, pt_alloc
or vmm_map with the same fields (a destroyed context's mappings go with it); vmm_protect must hit
a mapping; once the pmm is known, every page a vmm_map maps (outside the direct map, which maps
all of RAM) lies inside one live pmm_alloc whose owner is the owner its vmm_region states (pages
mapped before the pmm's first snapshot are held to it there); a page is mapped in one place at a
time (outside the direct map), unless every place is a user context's shared-memory region (the
procs scenario's shared memory) or it is a process's frame, shared by a fork's copy-on-write or
MAP_SHARED, whose count of mappings each page_share states (analyzer/checking/process_replay.py checks
those counts); an unmap emits its vmm_unmap after the pmm_free of the page, so a free of a
mapped page is not a problem by itself; a page is
mapped only inside a reservation (brk maps the heap's new pages before its vmm_reserve, so a
mapping may wait for the context's next reservation to cover it); nothing may
stay mapped in a released range, nor a page table in freed pages; a
pmm_alloc of owner `pagetable` is followed by the pt_alloc of that page (only the pmm's own
pmm_alloc/pmm_free may come between); context_switch must
leave the context the previous one entered; every replay_op is held to workload.def and to the
contexts its process has (analyzer/checking/replay_ops.py); ids of contexts and slab caches go in creation order;
call_chain ids go 1, 2, 3, ... and an allocation's `chain` is 0 or an id defined before it.

What the snapshots must be, and are checked to be:
  - at each phase boundary (phase_begin followed by, or phase_end preceded by, a pmm_snapshot):
    one vmm_snapshot per region of every live context;
  - when a context is destroyed: one vmm_snapshot per region of it, the last vmm_snapshots before
    context_destroy, with no reserve or release of it in between.
Each snapshot is compared with the replay; on a difference the first differing extent is named.

Lost events (a `loss` record) make the state unknown: the pmm and every context is re-learned from
its next snapshot, and the events in between are counted as unchecked, never silently passed.
"""

from bisect import bisect_left, bisect_right, insort
from collections import defaultdict, deque
from dataclasses import dataclass, field

from ..definitions.events import FORMAT, PAGE
from .process_replay import ProcessChecks
from .replay_ops import ReplayOps
from ..reading.summary import Problem

# What a context's snapshot consists of: one vmm_snapshot per region, then its vmm_bookkeeping.
SNAPSHOT_EVENTS = ("vmm_snapshot", "vmm_bookkeeping")
# A pmm_alloc of this owner is a page-table page: its pt_alloc comes next (FORMAT.md).
PAGE_TABLE_OWNER = FORMAT.value_numbers["MM_OWNER_PAGE_TABLE"]
# The pmm's zones in address order (events.def's `zone` group); the last one has no end field.
ZONE_NAMES = tuple(name for _, name in sorted(FORMAT.values["zone"].items()))
# Regions whose pages are not one mapping of one allocation: the direct map maps all of RAM; a
# shared-memory page is mapped once per context that shares it. Kernel context regions are
# `kernel_region` values, every other context's `user_region` values.
DIRECT_MAP = (0, FORMAT.value_numbers["VMM_KREGION_DIRECT_MAP"])
SHARED_USER_REGION = FORMAT.value_numbers["VMM_UREGION_SHM"]
OWNER_NAMES = FORMAT.values["owner"]
NO_OWNER = FORMAT.value_numbers["MM_OWNER_NONE"]
ADDRESS_SPACE_END = 1 << 64


def zone_ranges(snapshot):
    """((zone name, first byte, end byte), ...) of the pmm's zones as a pmm_snapshot states them:
    a field NAME_end for every zone of the `zone` group but the last, which takes the rest."""
    ends = [int(getattr(snapshot, f"{name}_end")) for name in ZONE_NAMES[:-1]]
    ends.append(ADDRESS_SPACE_END)
    return tuple(zip(ZONE_NAMES, [0] + ends[:-1], ends))


def bad_zone_ranges(zones):
    """Why zone ranges (zone_ranges) cannot be a pmm's, or None."""
    for name, start, end in zones:
        if end % PAGE or end < start:
            return (f"zone {name} ends at {end:#x}: zone ends must be page-aligned and "
                    f"non-decreasing (the zone before it ends at {start:#x})")
    return None


def zone_text(zones):
    return ", ".join(f"{name} [{start:#x}, {end:#x})" for name, start, end in zones[:-1])


class FreeSet:
    """Disjoint, coalesced free runs [start, end) in bytes, sorted by start. `watch`, when set,
    is called after every change with (runs removed, runs added): what a figure kept up to date
    from the set (analyzer/metrics/timeline.py) needs, without a second copy of the set."""

    __slots__ = ("starts", "ends", "watch")

    def __init__(self, runs=()):
        self.starts, self.ends = [], []
        self.watch = None
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
        starts, ends = self.starts, self.ends
        run_start, run_end = starts[i], ends[i]
        # the run keeps its slot for what is left of it (no shifting of the lists but for a split)
        if run_start < start:
            ends[i] = start
            if end < run_end:
                starts.insert(i + 1, end)
                ends.insert(i + 1, run_end)
                added = [(run_start, start), (end, run_end)]
            else:
                added = [(run_start, start)]
        elif end < run_end:
            starts[i] = end
            added = [(end, run_end)]
        else:
            del starts[i], ends[i]
            added = []
        if self.watch is not None:
            self.watch([(run_start, run_end)], added)
        return None

    def add(self, start, end):
        """Puts [start, end) back; no page of it may be free. Returns an error or None."""
        starts, ends = self.starts, self.ends
        i = bisect_right(starts, start)
        if (i > 0 and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
            return f"[{start:#x}, {end:#x}) is already partly free"
        # coalesce with the run ending at `start` and the one starting at `end`, in place
        left = i > 0 and ends[i - 1] == start
        right = i < len(starts) and starts[i] == end
        if left and right:
            removed = [(starts[i - 1], ends[i - 1]), (starts[i], ends[i])]
            start, end = starts[i - 1], ends[i]
            ends[i - 1] = end
            del starts[i], ends[i]
        elif left:
            removed = [(starts[i - 1], ends[i - 1])]
            start = starts[i - 1]
            ends[i - 1] = end
        elif right:
            removed = [(starts[i], ends[i])]
            end = ends[i]
            starts[i] = start
        else:
            removed = []
            starts.insert(i, start)
            ends.insert(i, end)
        if self.watch is not None:
            self.watch(removed, [(start, end)])
        return None

    def covers(self, addr):
        return self._index_containing(addr) is not None

    def intersects(self, start, end):
        """True when some page of [start, end) is free."""
        i = bisect_right(self.starts, start) - 1
        return (i >= 0 and self.ends[i] > start) or (i + 1 < len(self.starts) and
                                                      self.starts[i + 1] < end)


def first_difference(replayed, snapshot):
    """The lowest extent free in one FreeSet and not in the other, as text naming its address,
    length and which side has it free; None when both hold the same pages."""
    if replayed.starts == snapshot.starts and replayed.ends == snapshot.ends:
        return None  # runs are kept coalesced, so the same pages are the same runs
    points = sorted(set(replayed.starts + replayed.ends + snapshot.starts + snapshot.ends))
    for i, (a, b) in enumerate(zip(points, points[1:])):
        in_replay, in_snapshot = replayed.covers(a), snapshot.covers(a)
        if in_replay != in_snapshot:
            end = b
            for c, d in zip(points[i + 1:], points[i + 2:]):
                if replayed.covers(c) != in_replay or snapshot.covers(c) != in_snapshot:
                    break
                end = d
            side = "the replay" if in_replay else "the snapshot"
            return f"first difference: [{a:#x}, +{(end - a) // PAGE} pages) free only in {side}"
    return None


def _snapshot_set(items):
    """The FreeSet of a snapshot's items. Items in address order, non-empty and apart (what a
    sound snapshot lists) are coalesced in one pass; any other list is added run by run as
    FreeSet() adds it, which drops what overlaps (_bad_items reports that list)."""
    runs = sorted((item.addr, item.addr + item.pages * PAGE) for item in items)
    free = FreeSet()
    starts, ends = free.starts, free.ends
    last_end = -1
    for start, end in runs:
        if start >= end or start < last_end:
            return FreeSet(runs)
        if start == last_end:
            ends[-1] = end
        else:
            starts.append(start)
            ends.append(end)
        last_end = end
    return free


def _bad_items(items, base=None, end=None):
    """Why a snapshot's item list is malformed (unsorted, overlapping, empty, unaligned or outside
    [base, end)), or None."""
    previous_end = None
    for item in items:
        stop = item.addr + item.pages * PAGE
        if item.pages == 0 or item.addr % PAGE:
            return f"item [{item.addr:#x}, +{item.pages} pages) is empty or not page-aligned"
        if previous_end is not None and item.addr < previous_end:
            return f"item at {item.addr:#x} is out of address order or overlaps the one before"
        if base is not None and (item.addr < base or stop > end):
            return f"item [{item.addr:#x}, +{item.pages} pages) lies outside its region"
        previous_end = stop
    return None


def _cut_reservation(region, addr, pages):
    """A process's munmap, mremap and mprotect cut its reservations anywhere: the kernel splits
    them at the range's ends without an event (kernel/mm/vmm_ranges.c), then releases whole
    pieces. Makes [addr, +pages) a reservation of its own when it lies inside one."""
    starts = sorted(region.reservations)
    i = bisect_right(starts, addr) - 1
    if i < 0:
        return
    start = starts[i]
    end, cut_end = start + region.reservations[start] * PAGE, addr + pages * PAGE
    if cut_end > end:
        return
    del region.reservations[start]
    if start < addr:
        region.reservations[start] = (addr - start) // PAGE
    region.reservations[addr] = pages
    if cut_end < end:
        region.reservations[cut_end] = (end - cut_end) // PAGE


class Region:
    __slots__ = ("name", "base", "end", "free", "reservations", "exact", "owner")

    def __init__(self, name, base, pages, owner=None):
        self.name, self.base, self.end = name, base, base + pages * PAGE
        self.owner = owner  # owner of every page mapped in it; None while unknown after a loss
        self.free = FreeSet([(base, self.end)])  # None while unknown after a loss
        self.reservations = {}  # start -> pages
        self.exact = True  # False once re-learned after a loss: reservations before it unknown

    @classmethod
    def learned(cls, free):
        """A region first seen in a snapshot after a loss: bounds and reservations unknown."""
        region = cls(None, 0, 0)
        region.end, region.free, region.exact = 1 << 64, free, False
        return region


class Context:
    __slots__ = ("id", "regions", "learned", "last_change", "compared")

    def __init__(self, context_id, learned=False):
        self.id = context_id
        self.regions = []  # Region; None for a region not yet seen of a learned context
        self.learned = learned  # first seen in a snapshot after a loss: regions unknown
        self.last_change = -1  # event index of its last reserve/release
        self.compared = False  # some snapshot of it was compared with the replay


@dataclass
class ReplayReport:
    snapshots_checked: int = 0
    events_replayed: int = 0  # pmm and vmm events applied to a known state
    vmm_events_replayed: int = 0
    events_paired: int = 0  # frees, unmaps, protects and switches matched to what they undo
    mappings_checked: int = 0  # vmm_maps whose physical page was held to the pmm's allocations
    replay_ops_checked: int = 0  # replay_op records held to workload.def and the contexts
    events_unchecked: int = 0  # pmm/vmm events met while the state was unknown
    contexts_created: int = 0
    contexts_checked: int = 0  # replayed from creation and compared with a snapshot
    process_events_checked: int = 0  # process_start/exit, page_fault, syscall (process_replay)
    problems: list = field(default_factory=list)  # Problem, in stream order


class Replay:
    """Feed it every event in stream order (`feed`), then `finish()` for the ReplayReport.
    `offset_of(seq)` names the byte offset of a problem's record (None: no offsets).
    `recorder` (timeline.Recorder), when given, is told whenever the replay takes a snapshot's
    free set as its state, a context dies, a phase ends or events were lost, and watches the
    free sets in between: every figure reads this replay's state. `ledgers` (ledgers.Ledgers),
    when given, is told what the replay takes into and gives back from its ledgers, the
    reservations it makes and releases, the refusals, bookkeeping reports and process events it
    accepts: the running totals, attribution and process figures read that."""

    def __init__(self, offset_of=None, recorder=None, ledgers=None):
        self.report = ReplayReport()
        self.offset_of = offset_of
        self.recorder = recorder
        self.ledgers = ledgers
        self.pmm = None  # FreeSet, None while unknown
        self.zones = None  # zone_ranges of the first pmm_snapshot: they never change
        self.contexts = {}  # id -> Context, live ones
        self.next_context = 0
        self.lost = False  # events were lost at some point: ids may be unknown
        self.index = 0  # events fed so far
        self.declaring = None  # Context whose vmm_region events are being read
        self.pending_brk = None  # (context, region, base, old_pages, new_pages)
        self.pending_table = None  # address of a pmm_alloc for a page table, until its pt_alloc
        self.bookkeeping_due = None  # context whose snapshots end with its vmm_bookkeeping next
        self.resident_reported = None  # context of the previous event when a process_resident
        # (context, region, event index) of the latest vmm_snapshots: enough for any context's
        # destroy snapshots (a context has at most a few regions).
        self.recent_vmm_snapshots = deque(maxlen=64)
        self.pmm_used = {}  # addr -> (pages, owner, zone) of each pmm_alloc not yet freed
        self.pmm_used_starts = []  # sorted keys of pmm_used: which allocation holds a page
        self.phys_mapped = {}  # (phys, context) -> live mappings of it there, direct map aside
        # phys -> [live mappings of it anywhere, those outside a user shared-memory region]
        self.phys_places = {}
        # (vmm_map, Region, region index, bytes) of mappings made before the pmm's first
        # snapshot; None once they were held to it
        self.maps_before_pmm = []
        self.kmalloc_live = {}  # ptr -> given
        self.slab_live = {}  # object -> cache
        self.slab_caches = 0
        self.chains_defined = 0  # the last call_chain id (events.def: ids go 1, 2, 3, ...)
        self.table_pages = {}  # phys -> (context, level)
        self.mappings = {}  # (context, virt) -> (phys, page_size, flags)
        self.mapped = defaultdict(list)  # context -> sorted virts of its mappings
        # context -> base pages its mappings cover (the sum over `mapped`, kept as they change:
        # every process_resident is held to it)
        self.mapped_pages = defaultdict(int)
        # context -> [(region, start, end, event)] of mappings made where nothing was reserved yet
        self.unreserved_maps = defaultdict(list)
        self.active_context = 0
        self.phases = []  # [name, whether its phase_begin had snapshots]
        self.group = None  # the snapshot group being read: {"role", "keys", "name"}
        self.after_phase_begin = None  # name, when the previous event was a phase_begin
        self.begun = None  # that name, while the event right after the phase_begin is handled
        self.group_before_end = False  # a complete snapshot group came right before phase_end
        # True while one of declaring, pending_brk, pending_table, bookkeeping_due, group,
        # after_phase_begin is set: the next event must then meet what they expect (every
        # setter sets it).
        self.expecting = False
        self.workload_ops = ReplayOps(self)  # replay_op records (analyzer/checking/replay_ops.py)
        self._handlers = {name[3:]: getattr(self, name) for name in dir(self)
                          if name.startswith("on_")}
        self.processes = ProcessChecks(self)  # user-process events (analyzer/checking/process_replay.py)

    # ---- plumbing --------------------------------------------------------------------------

    def problem(self, e, text):
        offset = self.offset_of(e.seq) if self.offset_of else None
        self.report.problems.append(Problem(offset, f"seq {e.seq}: {type(e).__name__}: {text}"))

    def doubt(self, e, text):
        """A problem that lost events could explain: reported only while nothing was lost."""
        if self.lost:
            self._unchecked()
        else:
            self.problem(e, text)

    def feed(self, e):
        kind = type(e).__name__
        if kind == "call_chain":  # who allocates (attribution): no state, no expectation
            if e.chain != self.chains_defined + 1:
                self.doubt(e, f"call chain id {e.chain}: ids go 1, 2, 3, ... in stream order, "
                              f"{self.chains_defined + 1} was next")
            self.chains_defined = max(self.chains_defined, e.chain)
            self.index += 1
            return
        if getattr(e, "chain", 0) > self.chains_defined:
            self.doubt(e, f"call chain {e.chain} is used before a call_chain defines it")
        if kind == "loss" and e.count:
            self.lost = True  # the events just before this record are gone: expect nothing
        if self.expecting:
            self._meet_expectations(e, kind)
        self.processes.feed(e, kind)
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(e)
        if self.begun is not None:
            self.begun = None
        self.resident_reported = e.context if kind == "process_resident" else None
        self.index += 1

    def _meet_expectations(self, e, kind):
        """What the previous events require of this one (see `expecting`)."""
        if self.declaring is not None and kind != "vmm_region":
            self._end_declaration(e)
        if self.pending_brk is not None and kind not in ("vmm_reserve", "vmm_release"):
            self.doubt(e, "expected the vmm_reserve or vmm_release of the preceding vmm_brk")
            self.pending_brk = None
        if self.pending_table is not None and kind not in ("pmm_alloc", "pmm_free"):
            # (the pmm may make or drop its own metadata pages in between)
            if kind != "pt_alloc" or e.phys != self.pending_table:
                self.doubt(e, f"expected the pt_alloc of the page-table page "
                             f"{self.pending_table:#x} just allocated")
            self.pending_table = None
        if self.bookkeeping_due is not None and kind != "vmm_bookkeeping":
            self.doubt(e, f"expected the vmm_bookkeeping of context {self.bookkeeping_due} "
                       "after its snapshots")
            self.bookkeeping_due = None
        if self.group is not None and kind not in SNAPSHOT_EVENTS:
            self._close_group(e)
        if self.after_phase_begin is not None:
            self.begun, self.after_phase_begin = self.after_phase_begin, None
            self.phases[-1][1] = kind == "pmm_snapshot"
            if kind == "vmm_snapshot":
                self.doubt(e, f"phase {self.begun!r} begins with vmm snapshots but no "
                             "pmm_snapshot")
        self.expecting = (self.declaring is not None or self.pending_brk is not None or
                          self.pending_table is not None or self.group is not None or
                          self.bookkeeping_due is not None)

    def finish(self):
        self.report.replay_ops_checked = self.workload_ops.ops_checked
        self.processes.finish()
        if self.pending_table is not None:
            self.report.problems.append(Problem(None, f"no pt_alloc for the page-table page "
                                                      f"{self.pending_table:#x}"))
        for context in list(self.unreserved_maps):
            self._settle_unreserved_maps(context)
        self.report.contexts_checked += sum(self._fully_checked(c) for c in self.contexts.values())
        for name, _ in self.phases if not self.lost else ():
            self.report.problems.append(Problem(None, f"phase {name!r} never ended"))
        return self.report

    def _unchecked(self):
        self.report.events_unchecked += 1

    def _replayed(self, vmm):
        self.report.events_replayed += 1
        self.report.vmm_events_replayed += vmm

    # ---- physical memory ---------------------------------------------------------------------

    def on_pmm_snapshot(self, e):
        bad = _bad_items(e.items)
        if bad:
            self.problem(e, bad)
        self._check_zones(e)
        if sum(i.pages for i in e.items) != e.free_pages:
            self.problem(e, f"items add up to {sum(i.pages for i in e.items)} pages, "
                         f"free_pages says {e.free_pages}")
        snap = _snapshot_set(e.items)
        if self.pmm is not None:
            self.report.snapshots_checked += 1
            difference = first_difference(self.pmm, snap)
            if difference:
                self.problem(e, f"the pmm replay differs from the snapshot: {difference}")
        self.pmm = snap
        if self.recorder is not None and self.zones is not None:
            self.recorder.pmm_known(snap, self.zones)
        if self.maps_before_pmm:
            self._check_maps_before_pmm()
        self.maps_before_pmm = None
        if self.begun is None:
            self.group = {"role": "end?", "keys": []}
        else:
            self.group = {"role": "begin", "keys": [], "name": self.begun}
        self.expecting = True

    def _check_zones(self, e):
        zones = zone_ranges(e)
        bad = bad_zone_ranges(zones)
        if bad:
            self.problem(e, bad)
            return
        if self.zones is None:
            self.zones = zones
        elif zones != self.zones:
            self.problem(e, f"zones {zone_text(zones)} differ from the first snapshot's "
                         f"{zone_text(self.zones)}: a pmm's zones never change")
        ends = [end for _, _, end in zones[:-1]]
        for item in e.items:
            i = bisect_right(ends, item.addr)
            if i < len(ends) and item.addr + item.pages * PAGE > ends[i]:
                self.problem(e, f"item [{item.addr:#x}, +{item.pages} pages) crosses the end "
                             f"of zone {zones[i][0]} at {ends[i]:#x}")
                return

    def _pmm_change(self, e, remove):
        if self.pmm is None:
            self._unchecked()
            return
        run = (e.addr, e.addr + e.held * PAGE)
        error = "empty or unaligned run" if e.pages == 0 or e.addr % PAGE else (
            self.pmm.remove(*run) if remove else self.pmm.add(*run))
        if error:
            self.problem(e, error)
        self._replayed(False)

    def on_pmm_alloc(self, e):
        if e.align_log2 < 64 and e.addr % (PAGE << e.align_log2):
            self.problem(e, f"{e.addr:#x} is not aligned to 2^{e.align_log2} pages")
        if e.held < e.pages:
            self.problem(e, f"holds {e.held} pages, fewer than the {e.pages} asked for")
        if e.addr not in self.pmm_used:
            insort(self.pmm_used_starts, e.addr)
        self._take(e, self.pmm_used, e.addr, (e.pages, e.held, e.owner, e.zone))
        if self.zones is not None and e.zone < len(self.zones):
            name, start, end = self.zones[e.zone]
            if not (start <= e.addr and e.addr + e.held * PAGE <= end):
                self.problem(e, f"[{e.addr:#x}, +{e.pages} pages) is not in zone {name} "
                             f"[{start:#x}, {end:#x}), as its `zone` says")
        self._pmm_change(e, True)
        if e.owner == PAGE_TABLE_OWNER:
            if self.pending_table is not None:
                self.doubt(e, f"a second page-table page before the pt_alloc of "
                           f"{self.pending_table:#x}")
            self.pending_table = e.addr
            self.expecting = True

    def on_pmm_free(self, e):
        if e.addr in self.pmm_used:
            del self.pmm_used_starts[bisect_left(self.pmm_used_starts, e.addr)]
        self._give_back(e, self.pmm_used, e.addr, (e.pages, e.held, e.owner, e.zone),
                        "pages, held, owner, zone")
        end = e.addr + e.held * PAGE
        tables = (range(e.addr, end, PAGE) if e.held <= len(self.table_pages) else
                  self.table_pages)
        if any(e.addr <= page < end and page in self.table_pages for page in tables):
            self.doubt(e, "frees a page that is still a page table")
        self._pmm_change(e, False)

    # ---- objects paired with what undoes them ----------------------------------------------

    def _take(self, e, ledger, key, value):
        if key in ledger:
            self.doubt(e, f"{_key_text(key)} is handed out twice")
        ledger[key] = value
        if self.ledgers is not None:
            self.ledgers.taken(e, key, value)

    def _give_back(self, e, ledger, key, value, names, remove=True):
        """Checks that `key` was handed out with `value`; removes it when `remove`."""
        held = ledger.pop(key, None) if remove else ledger.get(key)
        if held is None:
            if self.lost:
                self._unchecked()
            else:
                self.problem(e, f"{_key_text(key)} was never handed out")
        elif held != value:
            self.doubt(e, f"{_key_text(key)} was handed out with {names} {held}, not {value}")
        else:
            self.report.events_paired += 1
            if remove and self.ledgers is not None:
                self.ledgers.given_back(e, key, value)

    def on_kmalloc(self, e):
        if e.given < e.requested:
            self.problem(e, f"gives {e.given} bytes for {e.requested} requested")
        self._take(e, self.kmalloc_live, e.ptr, e.given)

    def on_kfree(self, e):
        self._give_back(e, self.kmalloc_live, e.ptr, e.given, "size")

    def on_slab_cache_create(self, e):
        if e.cache != self.slab_caches and not self.lost:
            self.problem(e, f"cache ids go in creation order: expected {self.slab_caches}")
        self.slab_caches = e.cache + 1

    def on_slab_alloc(self, e):
        if e.cache >= self.slab_caches and not self.lost:
            self.problem(e, f"cache {e.cache} was never created")
        self._take(e, self.slab_live, e.object, e.cache)

    def on_slab_free(self, e):
        self._give_back(e, self.slab_live, e.object, e.cache, "cache")

    def on_pt_alloc(self, e):
        if e.phys % PAGE or not 1 <= e.level <= 4:
            self.problem(e, f"table page {e.phys:#x} at level {e.level}")
        elif self.pmm is not None and self.pmm.covers(e.phys):
            self.problem(e, f"table page {e.phys:#x} is free in the pmm")
        self._take(e, self.table_pages, e.phys, (e.context, e.level))

    def on_pt_free(self, e):
        self._give_back(e, self.table_pages, e.phys, (e.context, e.level), "context, level")

    def _check_leaf(self, e):
        """False (after reporting why) when the page is misaligned or outside its context's
        regions; else True, or its Region when `region` and the context's regions are known."""
        size = PAGE << (9 * e.page_size)  # a page_size value is the leaf's level (events.def)
        if e.virt % size or e.phys % size:
            self.problem(e, f"{e.virt:#x} -> {e.phys:#x} is not aligned to its page size")
            return False
        ctx = self.contexts.get(e.context)
        if ctx is None or ctx.learned:
            return True
        region = next((r for r in ctx.regions if r.base <= e.virt and e.virt + size <= r.end),
                      None)
        if region is None:
            self.doubt(e, f"{e.virt:#x} lies outside every region of context {e.context}")
            return False
        return region

    def on_vmm_map(self, e):
        checked = self._check_leaf(e)
        if not checked:
            return
        end = e.virt + (PAGE << 9 * e.page_size)
        if checked is not True and checked.free is not None and checked.free.intersects(e.virt,
                                                                                        end):
            self.unreserved_maps[e.context].append((checked, e.virt, end, e))
        if (e.context, e.virt) not in self.mappings:
            insort(self.mapped[e.context], e.virt)
            self.mapped_pages[e.context] += 1 << 9 * e.page_size
            self._check_mapped_page(e, checked, end - e.virt)
        self._take(e, self.mappings, (e.context, e.virt), (e.phys, e.page_size, e.flags))

    def _check_mapped_page(self, e, region, size):
        """The physical side of a new mapping (see the module's rules); counts it in
        phys_mapped."""
        region_id = next((i for i, r in enumerate(self.contexts[e.context].regions) if r is region),
                         None) if region is not True else None
        if (e.context, region_id) == DIRECT_MAP:
            return
        key = (e.phys, e.context)
        self.phys_mapped[key] = self.phys_mapped.get(key, 0) + 1
        shared_memory = self._in_shared_memory(
            self.contexts.get(e.context) or Context(e.context, learned=True), e.virt)
        places = self.phys_places.setdefault(e.phys, [0, 0])
        if places[0] and region is not True and not self.processes.shares(e.phys) and (
                not shared_memory or places[1]):
            self.doubt(e, f"maps {e.phys:#x}, which is already mapped in {places[0]} other "
                          "place(s): only user shared memory and a process's shared frames may "
                          "be mapped twice")
        places[0] += 1
        places[1] += not shared_memory
        if region is True:
            return  # the context's regions are unknown (learned after a loss)
        if self.pmm is None:
            if not self.lost:  # mapped before the pmm started: held to it at its first snapshot
                self.maps_before_pmm.append((e, region, region_id, size))
            return
        self._check_page_source(e, region, region_id, size)

    def _check_page_source(self, e, region, region_id, size):
        self.report.mappings_checked += 1
        i = bisect_right(self.pmm_used_starts, e.phys) - 1
        start = self.pmm_used_starts[i] if i >= 0 else None
        _, held, owner, _ = self.pmm_used[start] if start is not None else (0, 0, None, 0)
        if start is None or e.phys + size > start + held * PAGE:
            self.doubt(e, f"maps {e.phys:#x}, which no live pmm allocation holds")
            return
        if region.owner is not None and owner != region.owner:
            self.doubt(e, f"maps {e.phys:#x}, a page of owner {OWNER_NAMES.get(owner, owner)}, "
                          f"in region {region.name} of context {e.context}, whose pages are "
                          f"owner {OWNER_NAMES.get(region.owner, region.owner)}")

    def _check_maps_before_pmm(self):
        """The mappings made before the pmm's first snapshot that are still there, held to its
        allocations now (pmm_init's reservations are pmm_allocs of their owners)."""
        for e, region, region_id, size in self.maps_before_pmm:
            held = self.mappings.get((e.context, e.virt))
            if held is not None and held[0] == e.phys and e.context in self.contexts:
                self._check_page_source(e, region, region_id, size)

    def _unmapped_page(self, phys, ctx, virt):
        """One mapping of phys in Context ctx, at virt, went."""
        context = ctx.id
        left = self.phys_mapped.get((phys, context))
        if left is not None:
            if left > 1:
                self.phys_mapped[phys, context] = left - 1
            else:
                del self.phys_mapped[phys, context]
            places = self.phys_places.get(phys)
            if places is not None:
                places[0] -= 1
                places[1] -= not self._in_shared_memory(ctx, virt)
                if places[0] <= 0:
                    del self.phys_places[phys]

    @staticmethod
    def _in_shared_memory(ctx, virt):
        if ctx.id == 0 or len(ctx.regions) <= SHARED_USER_REGION:
            return False
        region = ctx.regions[SHARED_USER_REGION]
        return region is not None and region.base <= virt < region.end

    def _settle_unreserved_maps(self, context):
        """Each mapping made where nothing was reserved must be covered by now."""
        for region, start, end, e in self.unreserved_maps.pop(context, ()):
            if region.free is not None and region.free.intersects(start, end):
                self.doubt(e, f"{start:#x} of context {context} is mapped but not reserved")

    def on_vmm_unmap(self, e):
        if self._check_leaf(e):
            key = (e.context, e.virt)
            waiting = self.unreserved_maps.get(e.context)
            if waiting:  # a failed brk growth takes its mappings back unreserved
                waiting[:] = [w for w in waiting if w[1] != e.virt]
            if key in self.mappings:
                virts = self.mapped[e.context]
                del virts[bisect_left(virts, e.virt)]
                self.mapped_pages[e.context] -= 1 << 9 * self.mappings[key][1]
                self._unmapped_page(self.mappings[key][0], self.contexts.get(e.context) or
                                    Context(e.context, learned=True), e.virt)
            self._give_back(e, self.mappings, key, (e.phys, e.page_size, e.flags),
                            "phys, page_size, flags")

    def _still_mapped(self, e):
        """Reports a mapping of e.context left inside the released [e.addr, +e.pages)."""
        virts, end = self.mapped.get(e.context, ()), e.addr + e.pages * PAGE
        i = bisect_left(virts, e.addr)
        inside = i < len(virts) and virts[i] < end
        if not inside and i > 0:
            before = virts[i - 1]
            inside = before + (PAGE << 9 * self.mappings[e.context, before][1]) > e.addr
        if inside:
            self.doubt(e, f"context {e.context} still maps a page of the released range")

    def on_vmm_protect(self, e):
        key = (e.context, e.virt)
        if self._check_leaf(e):
            held = self.mappings.get(key)
            self._give_back(e, self.mappings, key, (e.phys, e.page_size, held and held[2]),
                            "phys, page_size, flags", remove=False)
            if held is not None:
                self.mappings[key] = (e.phys, e.page_size, e.flags)

    def on_context_switch(self, e):
        if e.from_context != self.active_context and not self.lost:
            self.problem(e, f"leaves context {e.from_context}, but {self.active_context} is active")
        elif e.to_context not in self.contexts and not self.lost:
            self.problem(e, f"enters context {e.to_context}, which is not live")
        else:
            self.report.events_paired += 1
        self.active_context = e.to_context

    # ---- contexts ------------------------------------------------------------------------------

    def on_context_create(self, e):
        self.report.contexts_created += 1
        if e.context in self.contexts:
            self.doubt(e, f"context {e.context} is already live")
        elif e.context != self.next_context and not self.lost:
            self.problem(e, f"context ids go in creation order: expected {self.next_context}")
        self.next_context = (e.context + 1) & 0xFFFF
        ctx = Context(e.context)
        self.contexts[e.context] = ctx
        self.workload_ops.context_created(e.context)
        self.declaring = ctx
        self.expecting = True

    def on_vmm_region(self, e):
        ctx = self.declaring
        if ctx is None or ctx.id != e.context or e.region != len(ctx.regions):
            self.doubt(e, f"context {e.context} region {e.region} is not the next region of "
                         "the context just created")
            return
        if e.base % PAGE or e.pages == 0 or e.base + e.pages * PAGE > 1 << 64:
            self.problem(e, f"region [{e.base:#x}, +{e.pages} pages) is empty or not aligned")
        if e.owner == NO_OWNER:
            self.problem(e, f"region {e.text} of context {e.context} names no owner for its pages")
        ctx.regions.append(Region(e.text, e.base, e.pages, e.owner))

    def _end_declaration(self, e):
        ctx, self.declaring = self.declaring, None
        if not ctx.regions:
            self.doubt(e, f"context {ctx.id} was created without any vmm_region")

    def on_context_destroy(self, e):
        if self.recorder is not None:
            self.recorder.context_destroyed(e.context)
        if self.ledgers is not None:
            self.ledgers.context_destroyed(e.context)
        ctx = self.contexts.pop(e.context, None)
        if ctx is None:
            if not self.lost:
                self.problem(e, f"context {e.context} is not live")
            return
        self._settle_unreserved_maps(ctx.id)
        self.mapped_pages.pop(ctx.id, None)
        for virt in self.mapped.pop(ctx.id, ()):
            phys = self.mappings.pop((ctx.id, virt))[0]  # pt_destroy drops them, unlisted
            self._unmapped_page(phys, ctx, virt)
        n = len(ctx.regions)
        recent = list(self.recent_vmm_snapshots)[-n:] if n else []
        expected = [(ctx.id, r) for r in range(n)]
        if [(c, r) for c, r, _ in recent] != expected:
            self.doubt(e, f"context {ctx.id} is destroyed without a snapshot of each of its "
                         f"{n} regions just before")
        elif recent and recent[0][2] < ctx.last_change:
            self.doubt(e, f"context {ctx.id} changed after its last snapshot")
        else:
            self.report.contexts_checked += self._fully_checked(ctx)

    @staticmethod
    def _fully_checked(ctx):
        """Replayed from its creation without a gap, and compared with a snapshot."""
        return ctx.compared and not ctx.learned and all(r.exact for r in ctx.regions)

    def _region(self, e):
        """The Region an event names, or None (a problem is reported when that is wrong)."""
        ctx = self.contexts.get(e.context)
        if ctx is None:
            if self.lost:
                self._unchecked()
            else:
                self.problem(e, f"context {e.context} is not live")
            return None
        if e.region >= len(ctx.regions) and not ctx.learned:
            self.doubt(e, f"context {e.context} has no region {e.region}")
            return None
        region = ctx.regions[e.region] if e.region < len(ctx.regions) else None
        if region is None or region.free is None:
            self._unchecked()
            return None
        ctx.last_change = self.index
        return region

    def on_vmm_brk(self, e):
        """The reservation at e.base resized: the heap at the region's base (the kernel's own
        contexts), or the last reservation of a demand-paged program's heap, which brk extends. The
        heap is that reservation (region.reservations[e.base]), not a record of its own: a split,
        a cut or a new reservation at that address changes the heap with no step to keep in sync
        (a forked child's heap, which fork reserves at the parent's address, included)."""
        region = self._region(e)
        if region is None:
            return
        if not region.base <= e.base < region.end or e.old_pages == e.new_pages:
            self.problem(e, f"heap at {e.base:#x} resized {e.old_pages} -> {e.new_pages} pages "
                         f"in the region at {region.base:#x}")
        elif region.exact and region.reservations.get(e.base, 0) != e.old_pages:
            self.doubt(e, f"the heap at {e.base:#x} is "
                         f"{region.reservations.get(e.base, 0)} pages, not {e.old_pages}")
        self.pending_brk = (e.context, e.region, e.base, e.old_pages, e.new_pages)
        self.expecting = True

    def _brk_delta(self, e, region, grow):
        context, region_id, base, old, new = self.pending_brk
        self.pending_brk = None
        delta_start = base + min(old, new) * PAGE
        if (e.context, e.region, e.addr, e.pages, grow) != (context, region_id, delta_start,
                                                           abs(new - old), new > old):
            self.doubt(e, f"is not the difference of the preceding vmm_brk ({old} -> {new} "
                         f"pages at {base:#x})")
            return
        run = (e.addr, e.addr + e.pages * PAGE)
        if not grow:
            self._still_mapped(e)
        error = region.free.remove(*run) if grow else region.free.add(*run)
        if error:
            self.problem(e, error)
        if grow:
            self._settle_unreserved_maps(context)
        if new:
            region.reservations[base] = new
        else:
            region.reservations.pop(base, None)
        self._replayed(True)
        if self.ledgers is not None:
            (self.ledgers.reserved if grow else self.ledgers.released)(e.context, e.addr)

    def on_vmm_reserve(self, e):
        region = self._region(e)
        if region is None:
            self.pending_brk = None
            return
        if self.pending_brk is not None:
            return self._brk_delta(e, region, True)
        end = e.addr + e.pages * PAGE
        if e.pages == 0 or e.addr % (PAGE << e.align_log2) or not region.base <= e.addr < end <= \
                region.end:
            self.problem(e, f"[{e.addr:#x}, +{e.pages} pages) is empty, misaligned for "
                         f"align_log2 {e.align_log2}, or outside region {e.region} "
                         f"[{region.base:#x}, {region.end:#x})")
            return
        error = region.free.remove(e.addr, end)
        if error:
            self.problem(e, error)
            return
        region.reservations[e.addr] = e.pages
        self._replayed(True)
        if self.ledgers is not None:
            self.ledgers.reserved(e.context, e.addr)
        self._settle_unreserved_maps(e.context)

    def on_vmm_split(self, e):
        """A reservation cut in two at e.addr (a program's munmap or mprotect of part of it)."""
        region = self._region(e)
        if region is None:
            return
        start = max((s for s in region.reservations if s < e.addr), default=None)
        pages = region.reservations.get(start, 0) if start is not None else 0
        if start is None or e.addr % PAGE or e.addr >= start + pages * PAGE:
            if region.exact:
                self.problem(e, f"splits at {e.addr:#x}, inside no reservation")
            return
        region.reservations[start] = (e.addr - start) // PAGE
        region.reservations[e.addr] = pages - (e.addr - start) // PAGE
        self._replayed(True)

    def on_vmm_release(self, e):
        region = self._region(e)
        if region is None:
            self.pending_brk = None
            return
        if self.pending_brk is not None:
            return self._brk_delta(e, region, False)
        self._still_mapped(e)
        if region.reservations.get(e.addr) != e.pages and \
                e.context in self.processes.process_contexts:
            _cut_reservation(region, e.addr, e.pages)
        reserved = region.reservations.pop(e.addr, None)
        if reserved is None and region.exact:
            self.problem(e, f"no reservation starts at {e.addr:#x}")
            return
        if reserved is not None and reserved != e.pages:
            self.problem(e, f"releases {e.pages} pages at {e.addr:#x}, the reservation there is "
                         f"{reserved} pages")
            region.reservations[e.addr] = reserved
            return
        error = region.free.add(e.addr, e.addr + e.pages * PAGE)
        if error:
            self.problem(e, error)
            return
        self._replayed(True)
        if self.ledgers is not None:
            self.ledgers.released(e.context, e.addr)

    def on_vmm_snapshot(self, e):
        self._settle_unreserved_maps(e.context)
        ctx = self.contexts.get(e.context)
        if ctx is None and self.lost:
            ctx = self.contexts[e.context] = Context(e.context, learned=True)
        if ctx is None:
            self.problem(e, f"context {e.context} is not live")
            return
        if e.region >= len(ctx.regions):
            if not ctx.learned and not self.lost:
                self.problem(e, f"context {e.context} has no region {e.region}")
                return
            ctx.regions.extend([None] * (e.region + 1 - len(ctx.regions)))
        region = ctx.regions[e.region]
        bad = _bad_items(e.items, *((region.base, region.end) if region else ()))
        if bad:
            self.problem(e, bad)
        snap = _snapshot_set(e.items)
        if region is None:
            ctx.regions[e.region] = Region.learned(snap)
        elif region.free is None:
            region.free = snap
        else:
            self.report.snapshots_checked += 1
            ctx.compared = True
            difference = first_difference(region.free, snap)
            if difference:
                self.problem(e, f"the replay of context {e.context} region {e.region} "
                             f"({region.name}) differs from the snapshot: {difference}")
            region.free = snap
        if self.recorder is not None:
            self.recorder.region_known(e.context, e.region, ctx.regions[e.region].free)
        self.recent_vmm_snapshots.append((e.context, e.region, self.index))
        if not ctx.learned and e.region == len(ctx.regions) - 1:
            self.bookkeeping_due = e.context
            self.expecting = True
        if self.group is not None:
            self.group["keys"].append((e.context, e.region))

    def on_vmm_bookkeeping(self, e):
        """Comes right after the last region's vmm_snapshot of its context (vmm_trace_snapshot),
        or right after a process_resident of its context (kernel/user/process.c)."""
        if self.bookkeeping_due != e.context and self.resident_reported != e.context:
            self.doubt(e, f"context {e.context}'s bookkeeping does not follow its snapshots")
        self.bookkeeping_due = None
        if self.ledgers is not None:
            self.ledgers.bookkeeping_reported(e.context, e.bytes)

    def _refused(self, e):
        """A request refused for lack of memory (kmalloc_fail, pmm_alloc_fail, vmm_reserve_fail):
        no state changes; the ledgers count it as one of the workload's requests."""
        if self.ledgers is not None:
            self.ledgers.refused(e)

    on_kmalloc_fail = on_pmm_alloc_fail = on_vmm_reserve_fail = _refused

    # ---- phases and their snapshot groups ----------------------------------------------------

    def _expected_group(self):
        return sorted((c.id, r) for c in self.contexts.values() for r in range(len(c.regions)))

    def _close_group(self, e):
        """Called at the first event after a run of snapshots that began with a pmm_snapshot."""
        group, self.group = self.group, None
        if group["role"] == "begin":
            expected = self._expected_group()
            keys = group["keys"][:len(expected)]
            if sorted(keys) != expected:
                missing = sorted(set(expected) - set(keys))
                self.doubt(e, f"phase {group['name']!r} begins without a snapshot of every "
                             f"live context's regions (first missing: context, region = "
                             f"{missing[0] if missing else 'duplicate'})")
        elif type(e).__name__ != "phase_end":
            self.doubt(e, "a pmm_snapshot that neither follows a phase_begin nor precedes a "
                         "phase_end")
        else:
            expected = self._expected_group()
            if sorted(group["keys"]) != expected:
                missing = sorted(set(expected) - set(group["keys"]))
                self.doubt(e, f"phase {e.text!r} ends without exactly one snapshot of every "
                             f"live context's regions (first missing: context, region = "
                             f"{missing[0] if missing else 'duplicate'})")
            self.group_before_end = True

    def on_phase_begin(self, e):
        self.phases.append([e.text, False])
        self.after_phase_begin = e.text
        self.expecting = True

    def on_phase_end(self, e):
        if self.recorder is not None:
            self.recorder.phase_end(e.text)
        if self.lost and e.text in (name for name, _ in self.phases):
            while self.phases[-1][0] != e.text:  # the ends of inner phases were lost
                self.phases.pop()
        if not self.phases or self.phases[-1][0] != e.text:
            self.doubt(e, f"phase {e.text!r} ends, but " +
                       (f"the open phase is {self.phases[-1][0]!r}" if self.phases
                        else "no phase is open"))
            return
        _, had_snapshots = self.phases.pop()
        ended_with_group, self.group_before_end = self.group_before_end, False
        if had_snapshots and not ended_with_group:
            self.doubt(e, f"phase {e.text!r} began with snapshots but does not end with them")

    def on_replay_op(self, e):
        self.workload_ops.check(e)

    # ---- losses ------------------------------------------------------------------------------

    def on_loss(self, e):
        if e.count == 0:
            self.problem(e, "a loss record of zero events")
            return
        self.lost = True
        self.pmm = None
        if self.recorder is not None:
            self.recorder.lost()
        for ctx in self.contexts.values():
            for region in filter(None, ctx.regions):
                region.free = None
                region.reservations.clear()
                region.exact = False


def _key_text(key):
    if isinstance(key, tuple):
        return f"context {key[0]} page {key[1]:#x}"
    return f"{key:#x}"


def check_replay(events, offset_of=None):
    """Replays `events` (TraceReader.events()) and returns a ReplayReport."""
    replay = Replay(offset_of)
    for e in events:
        replay.feed(e)
    return replay.finish()
