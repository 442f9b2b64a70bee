"""What the one replay held, over time: when each allocation it paired was taken and given back,
the workload requests it applied, the bookkeeping the kernel reported for each live context, and
the user processes it followed.

The replay (analyzer/checking/replay.py) tells a Ledgers what it did as it applies each event:
what it took into one of its ledgers (pmm allocations, kmalloc and slab objects, page-table pages,
mappings) and what it gave back, which reservations it made and released, which contexts died,
which requests it saw refused, and the process events it accepted. Nothing here reads the trace's
columns to pair or count events: `finish(trace)` only turns the recorded record positions into the
rows of trace.of(name) they are (the running totals, attribution, progress and process figures all
read the Held it returns; analyzer/metrics/state.py drives the replay).

Invariants:
  - `position` is the record index of the event being replayed (state.py sets it before each
    event); every list below is appended in stream order, so positions never decrease;
  - an allocation is the row of trace.of(name) at the position it was taken; it ends at the
    position of the event that gave it back (its free, unmap, pt_free or release; for a
    reservation also its context's destroy); an allocation never given back ends at ALIVE;
  - only what the replay accepted is recorded: an event it refused adds nothing, a free that does
    not match what was handed out ends nothing (and a trace with a problem is refused as a whole
    by state.py).
"""

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..definitions.events import FORMAT

ALIVE = np.iinfo(np.int64).max  # the end of an allocation still held when the trace ends
# The allocation events the replay pairs, and the event that gives each back.
GIVEN_BACK_BY = {"pmm_alloc": "pmm_free", "kmalloc": "kfree", "slab_alloc": "slab_free",
                 "pt_alloc": "pt_free", "vmm_map": "vmm_unmap", "vmm_reserve": "vmm_release"}
TAKEN_BY = {free: alloc for alloc, free in GIVEN_BACK_BY.items()}
# Physical pages a VMM backend takes for itself (its page tables, its metadata): not the
# workload's requests. Named by the kernel's own enumerators (trace/events.def).
BACKEND_OWNERS = (FORMAT.value_numbers["MM_OWNER_PAGE_TABLE"],
                  FORMAT.value_numbers["MM_OWNER_MM_META"])


def _pages_of(page_size):
    """Base pages in one mapping of this page_size (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB)."""
    return 1 << 9 * page_size


@dataclass
class Held:
    """What the replay held, as arrays (state.State.held)."""

    ends: dict  # allocation name -> int64 per row of trace.of(name): position it ended, or ALIVE
    gave_back: dict  # free name -> int64 per row of trace.of(name): the allocation row, or -1
    totals: dict  # total name -> (positions, deltas) int64, in stream order
    mapped: dict  # context -> (positions, signed pages) of its mappings made and unmapped
    bookkeeping: dict  # context -> (positions, bytes) of each vmm_bookkeeping report
    destroyed: tuple  # (positions, contexts) of every context_destroy
    requests: np.ndarray  # positions of the workload's requests (progress.py)
    process_starts: list  # (position, event) of each accepted process_start
    process_exits: list  # (position, pid, reason, status)
    resident: tuple  # (positions, pids, resident pages, reserved pages), as the replay counted


class Ledgers:
    """Told by the replay what it holds; `finish(trace)` gives the Held."""

    def __init__(self):
        self.position = 0
        self.taken_at = {}  # (allocation name, key) -> position, while held
        self.ended = defaultdict(list)  # allocation name -> [(taken position, end position)]
        self.given_back_by = defaultdict(list)  # free name -> [(free position, taken position)]
        self.reservations = defaultdict(set)  # context -> addresses of its live reservations
        self.totals = defaultdict(list)  # total name -> [(position, delta)]
        self.slab = []  # (position, cache, +1 or -1)
        self.mapped = defaultdict(list)  # context -> [(position, signed pages)]
        self.mapped_now = defaultdict(int)  # context -> pages its live mappings cover
        self.bookkeeping = defaultdict(list)  # context -> [(position, bytes)]
        self.destroyed = []  # (position, context)
        self.requests = []  # positions
        self.process_starts, self.process_exits, self.resident = [], [], []

    # ---- the replay's ledgers (replay._take, replay._give_back) ------------------------------

    def taken(self, e, key, value):
        name = type(e).__name__
        self.taken_at[name, key] = self.position
        if name == "pmm_alloc":
            if value[2] not in BACKEND_OWNERS:
                self.requests.append(self.position)
        elif name == "kmalloc":
            self.requests.append(self.position)
            self.totals["kmalloc bytes"].append((self.position, value))
        elif name == "slab_alloc":
            self.slab.append((self.position, value, 1))
        elif name == "pt_alloc":
            self.totals["page-table pages"].append((self.position, 1))
        elif name == "vmm_map":
            self.mapped[key[0]].append((self.position, _pages_of(value[1])))
            self.mapped_now[key[0]] += _pages_of(value[1])

    def paired(self, taken_name, given_name, key, position):
        """What `taken_name` holds at key, if anything, is given back by `given_name` at position:
        its holding ends there (the one place a pair is closed)."""
        taken = self.taken_at.pop((taken_name, key), None)
        if taken is not None:
            self.ended[taken_name].append((taken, position))
            self.given_back_by[given_name].append((position, taken))

    def given_back(self, e, key, value):
        name = type(e).__name__
        self.paired(TAKEN_BY[name], name, key, self.position)
        if name == "pmm_free":
            if value[2] not in BACKEND_OWNERS:
                self.requests.append(self.position)
        elif name == "kfree":
            self.requests.append(self.position)
            self.totals["kmalloc bytes"].append((self.position, -value))
        elif name == "slab_free":
            self.slab.append((self.position, value, -1))
        elif name == "pt_free":
            self.totals["page-table pages"].append((self.position, -1))
        elif name == "vmm_unmap":
            self.mapped[key[0]].append((self.position, -_pages_of(value[1])))
            self.mapped_now[key[0]] -= _pages_of(value[1])

    # ---- reservations, contexts, refusals, bookkeeping ---------------------------------------

    def reserved(self, context, addr):
        """A vmm_reserve applied (a brk growth's included): the reservation at addr is held."""
        self.taken_at["vmm_reserve", (context, addr)] = self.position
        self.reservations[context].add(addr)
        self.requests.append(self.position)

    def released(self, context, addr):
        """A vmm_release applied: the reservation made at addr, if one was, ends here."""
        self.reservations[context].discard(addr)
        self.paired("vmm_reserve", "vmm_release", (context, addr), self.position)
        self.requests.append(self.position)

    def refused(self, e):
        """kmalloc_fail, pmm_alloc_fail, vmm_reserve_fail: the workload asked all the same."""
        if type(e).__name__ != "pmm_alloc_fail" or e.owner not in BACKEND_OWNERS:
            self.requests.append(self.position)

    def context_destroyed(self, context):
        """A context died: its reservations end with it, and the mappings it still had go
        with its page tables (the replay drops them; no vmm_unmap is recorded for them)."""
        self.destroyed.append((self.position, context))
        left = self.mapped_now.pop(context, 0)
        if left:
            self.mapped[context].append((self.position, -left))
        for addr in sorted(self.reservations.pop(context, ())):
            taken = self.taken_at.pop(("vmm_reserve", (context, addr)), None)
            if taken is not None:
                self.ended["vmm_reserve"].append((taken, self.position))

    def bookkeeping_reported(self, context, nbytes):
        self.bookkeeping[context].append((self.position, nbytes))

    # ---- user processes (process_replay.ProcessChecks) -----------------------------------------

    def process_started(self, e):
        self.process_starts.append((self.position, e))

    def process_exited(self, e):
        self.process_exits.append((self.position, e.pid, e.reason, e.status))

    def resident_counted(self, pid, resident, reserved):
        """A process_resident the replay accepted: where it could count the context's mapped and
        reserved pages itself, they equal these."""
        self.resident.append((self.position, pid, resident, reserved))

    # ---- the result --------------------------------------------------------------------------

    def finish(self, trace):
        ends = {}
        for name in GIVEN_BACK_BY:
            positions = trace.of(name)["position"].astype(np.int64)
            end = np.full(len(positions), ALIVE, dtype=np.int64)
            pairs = np.array(self.ended.get(name, ()), dtype=np.int64).reshape(-1, 2)
            end[_rows(positions, pairs[:, 0], name)] = pairs[:, 1]
            ends[name] = end
        gave_back = {}
        for free, alloc in TAKEN_BY.items():
            positions = trace.of(free)["position"].astype(np.int64)
            row = np.full(len(positions), -1, dtype=np.int64)
            pairs = np.array(self.given_back_by.get(free, ()), dtype=np.int64).reshape(-1, 2)
            row[_rows(positions, pairs[:, 0], free)] = _rows(
                trace.of(alloc)["position"].astype(np.int64), pairs[:, 1], alloc)
            gave_back[free] = row
        totals = {name: _columns(steps, 2) for name, steps in self.totals.items()}
        sizes = {e.cache: e.object_size for e in trace.others_named("slab_cache_create")}
        totals["slab bytes"] = _columns([(p, sign * sizes.get(cache, 0))
                                         for p, cache, sign in self.slab], 2)
        held = Held(
            ends, gave_back, totals,
            {c: _columns(v, 2) for c, v in self.mapped.items()},
            {c: _columns(v, 2) for c, v in self.bookkeeping.items()},
            _columns(self.destroyed, 2), np.array(self.requests, dtype=np.int64),
            self.process_starts, self.process_exits, _columns(self.resident, 4))
        # Let go of the lists now that Held has them as arrays: the replay that holds this
        # Ledgers is freed only by a garbage collection (it refers to itself), which would
        # otherwise walk every tuple in them.
        self.__init__()
        return held


def _columns(rows, width):
    """[(a, b, ...)] -> (int64 array of a, of b, ...), empty arrays for no rows."""
    table = np.array(rows, dtype=np.int64).reshape(-1, width)
    return tuple(table[:, i] for i in range(width))


def _rows(positions, wanted, name):
    """The rows of a sorted positions column at the positions `wanted` (each must be there)."""
    rows = np.searchsorted(positions, wanted)
    if len(wanted) and (rows.max() >= len(positions) or (positions[rows] != wanted).any()):
        raise AssertionError(f"the replay paired a {name} at a position no {name} row has")
    return rows
