"""The one replay's driver over a BulkTrace's columns: the common events applied by a tight loop
over plain ints, every other event handed to Replay.feed (analyzer/checking/replay.py).

Most of a trace is pmm_alloc, pmm_free, kmalloc, kfree, slab_alloc and slab_free, almost all of
them valid. Replay.feed builds a namedtuple per event, dispatches it through two dicts of
handlers and checks each rule with a method call; here such an event is read as the ints of its
columns and, when it is plain, applied in place with exactly the effects Replay.feed has on a
valid event of its kind.

What makes an event plain, decided before anything changes:
  - its own fields pass the rules that read nothing else (pages non-zero and page-aligned,
    held >= pages, alignment, given >= requested): numpy over the whole column, once;
  - the replay expects nothing of it (Replay.expecting is False: no declaration, brk,
    page-table page, bookkeeping, snapshot group or phase_begin is waiting) and, for the pmm's
    events, the pmm's state is known;
  - its call chain, if it has one, is defined;
  - what it takes is not held (a pmm_alloc's address, a kmalloc's pointer, a slab object of a
    cache already created), what it gives back is held with the same fields, a pmm_alloc lies
    inside the zone its `zone` names and is not a page-table page (whose pt_alloc Replay
    expects next), and a pmm_free frees no page table nor any frame of a process (whose
    sharing rules process_replay.py judges).
Anything else goes to Replay.feed as the namedtuple it always was, so every problem is found and
worded by the same code as in `analyzer check`, at the same record. The one rule decided after
a change is the free set's (FreeSet.remove/add refuse without changing anything); its problem is
reported with the same text, after the same earlier effects, as Replay.feed's.

Invariants:
  - every event is applied once, in stream order, either here or by Replay.feed; Replay.index,
    the Recorder's and the Ledgers' positions hold the event's index and position whenever
    Replay.feed or a watched FreeSet runs;
  - a plain event changes the Replay, ProcessChecks, Ledgers and (through FreeSet.watch) the
    Recorder exactly as Replay.feed would; the report's counters are added at the end.
"""

from bisect import bisect_left, bisect_right, insort
from functools import partial

import numpy as np

from ..definitions.events import FORMAT, PAGE
from .process_replay import USER_OWNER
from .replay import DIRECT_MAP, PAGE_TABLE_OWNER

# Owners whose pmm pages a VMM backend takes for itself: not the workload's requests
# (analyzer/metrics/ledgers.py, BACKEND_OWNERS, counts the same).
BACKEND_OWNERS = (FORMAT.value_numbers["MM_OWNER_PAGE_TABLE"],
                  FORMAT.value_numbers["MM_OWNER_MM_META"])
(PMM_ALLOC, PMM_FREE, KMALLOC, KFREE, SLAB_ALLOC, SLAB_FREE, VMM_RESERVE, VMM_RELEASE, VMM_MAP,
 VMM_UNMAP) = range(10)
# The columns each plain kind is read as, in this order (after the row and the plain flag).
PLAIN_COLUMNS = {PMM_ALLOC: ("addr", "pages", "held", "zone", "owner", "chain"),
                 PMM_FREE: ("addr", "pages", "held", "zone", "owner"),
                 KMALLOC: ("ptr", "given", "chain"),
                 KFREE: ("ptr", "given"),
                 SLAB_ALLOC: ("object", "cache", "chain"),
                 SLAB_FREE: ("object", "cache"),
                 VMM_RESERVE: ("addr", "pages", "context", "region", "chain"),
                 VMM_RELEASE: ("addr", "pages", "context", "region"),
                 VMM_MAP: ("virt", "phys", "context", "page_size", "flags"),
                 VMM_UNMAP: ("virt", "phys", "context", "page_size", "flags")}
PLAIN_NAMES = {"pmm_alloc": PMM_ALLOC, "pmm_free": PMM_FREE, "kmalloc": KMALLOC,
               "kfree": KFREE, "slab_alloc": SLAB_ALLOC, "slab_free": SLAB_FREE,
               "vmm_reserve": VMM_RESERVE, "vmm_release": VMM_RELEASE, "vmm_map": VMM_MAP,
               "vmm_unmap": VMM_UNMAP}


def _fields_pass(name, array):
    """Per row, whether the rules that read only the event's own fields pass (numpy)."""
    if name in ("pmm_alloc", "pmm_free", "vmm_reserve", "vmm_release"):
        addr = array["addr"].astype(np.uint64)
        ok = (array["pages"] != 0) & (addr % np.uint64(PAGE) == 0)
        if name == "pmm_alloc":
            ok &= array["held"] >= array["pages"]
        if name in ("pmm_alloc", "vmm_reserve"):
            # aligned to 2^align_log2 pages; an alignment past 2^64 bytes holds for address 0 only
            align = array["align_log2"].astype(np.int64)
            shift = (np.minimum(align, 51) + 12).astype(np.uint64)
            low = np.where(align < 52, addr & ((np.uint64(1) << shift) - np.uint64(1)), addr)
            ok &= (align >= 64) | (low == 0)
        return ok
    if name == "kmalloc":
        return array["given"] >= array["requested"]
    if name in ("vmm_map", "vmm_unmap"):
        # aligned to its page size (a page_size value is the leaf's level, events.def); a
        # page size past 4 KiB << 36 is left to Replay.feed
        level = array["page_size"].astype(np.int64)
        mask = (np.uint64(PAGE) << (9 * np.minimum(level, 4)).astype(np.uint64)) - np.uint64(1)
        return (level <= 4) & (array["virt"] & mask == 0) & (array["phys"] & mask == 0)
    return np.ones(len(array), dtype=bool)


def _record_maker(event_type, seqs, array):
    """Builds the namedtuple of row i of a kind read as plain ints (for Replay.feed), its values
    Python ints as the strict reader gives them."""
    names = event_type.fields.names

    def record(i):
        row = array[i]
        return event_type.record(int(seqs[row["position"]]), int(row["timestamp"]),
                                 *(int(row[name]) for name in names))
    return record


def _plan(trace, lane):
    """(positions, kinds, sources) in stream order: kinds[i] is a PLAIN_NAMES code or a key of
    `sources`, whose iterator gives that kind's events in order: for plain kinds tuples
    (row, plain, *PLAIN_COLUMNS), else the namedtuples Replay.feed takes (for string and array
    events, what TraceReader.events() yields: an array event's parts joined)."""
    seqs = trace.seqs()
    positions, kinds, sources, makers = [], [], {}, {}
    for name, array in trace.fixed.items():
        event_type = FORMAT.events_by_name[name]
        at = array["position"]
        code = PLAIN_NAMES.get(name, name)
        if code in PLAIN_COLUMNS:
            plain = _fields_pass(name, array) & lane
            sources[code] = zip(range(len(at)), plain.tolist(),
                                *(array[c].tolist() for c in PLAIN_COLUMNS[code]))
            makers[code] = _record_maker(event_type, seqs, array)
        else:
            columns = [seqs[at].tolist(), array["timestamp"].tolist()] + [
                array[field].tolist() for field in event_type.fields.names]
            # tuple.__new__ on the namedtuple class builds the same event without running the
            # class's Python __new__ per event
            sources[code] = map(partial(tuple.__new__, event_type.record), zip(*columns))
        positions.append(at)
        kinds.append(np.full(len(at), len(kinds), dtype=np.int64))
    codes = [PLAIN_NAMES.get(name, name) for name in trace.fixed]
    others = []
    for e in trace.others:
        event_type = FORMAT.events_by_name[e.name]
        values = [e.fields[field] for field in event_type.fields.names]
        if event_type.kind == "string":
            tail = e.text
        else:
            tail = tuple(map(event_type.item_record._make, e.items.tolist()))
        others.append(event_type.record(e.seq, e.timestamp, *values, tail))
    sources["others"] = iter(others)
    for code in PLAIN_COLUMNS:
        sources.setdefault(code, iter(()))
    codes.append("others")
    positions.append(np.array([e.position for e in trace.others], dtype=np.int64))
    kinds.append(np.full(len(trace.others), len(codes) - 1, dtype=np.int64))
    everything = np.concatenate(positions).astype(np.int64)
    order = np.argsort(everything, kind="stable")
    kind_codes = np.array(codes, dtype=object)[np.concatenate(kinds)[order]]
    return everything[order].tolist(), kind_codes.tolist(), sources, makers


def run(checker, trace, progress=iter, lane=True):
    """Feeds every event of a BulkTrace, in stream order, to the Replay `checker` (built with a
    recorder and ledgers), the plain ones applied here (every one through Replay.feed when
    `lane` is False: what the tests compare the lane with). `progress` wraps the iteration (a
    progress bar). Returns nothing; call checker.finish() for the report."""
    positions, kinds, sources, makers = _plan(trace, lane)
    recorder, ledgers, processes = checker.recorder, checker.ledgers, checker.processes
    report = checker.report
    pmm_used, pmm_used_starts = checker.pmm_used, checker.pmm_used_starts
    kmalloc_live, table_pages = checker.kmalloc_live, checker.table_pages
    frames, freed, recent = processes.frames, processes.freed, processes.recent
    taken_at, requests = ledgers.taken_at, ledgers.requests
    pair = ledgers.paired
    next_alloc, next_free = sources[PMM_ALLOC].__next__, sources[PMM_FREE].__next__
    next_kmalloc, next_kfree = sources[KMALLOC].__next__, sources[KFREE].__next__
    next_slab_alloc, next_slab_free = sources[SLAB_ALLOC].__next__, sources[SLAB_FREE].__next__
    slab_live, slab_steps = checker.slab_live, ledgers.slab
    next_reserve, next_release = sources[VMM_RESERVE].__next__, sources[VMM_RELEASE].__next__
    contexts, unreserved_maps, mapped = checker.contexts, checker.unreserved_maps, checker.mapped
    process_contexts = processes.process_contexts
    vmm_replayed = mappings_checked = 0
    next_map, next_unmap = sources[VMM_MAP].__next__, sources[VMM_UNMAP].__next__
    mappings, phys_mapped, phys_places = checker.mappings, checker.phys_mapped, checker.phys_places
    mapped_pages = checker.mapped_pages
    replayed = paired = 0
    resident = False  # the previous event was a process_resident (Replay.resident_reported)

    def slow(index, position, e):
        checker.index = index
        recorder.position = ledgers.position = position
        checker.feed(e)
        return checker.resident_reported is not None

    for index, (position, kind) in enumerate(progress(zip(positions, kinds))):
        if kind == PMM_ALLOC:
            row, ok, addr, pages, held, zone, owner, chain = next_alloc()
            end = addr + held * PAGE
            if ok and not checker.expecting and checker.pmm is not None and \
                    chain <= checker.chains_defined and owner != PAGE_TABLE_OWNER and \
                    addr not in pmm_used:
                zones = checker.zones
                if zones is None or zone >= len(zones) or \
                        (zones[zone][1] <= addr and end <= zones[zone][2]):
                    if owner == USER_OWNER:
                        recent.append(("alloc", addr, end))
                    if freed:
                        for page in range(addr, end, PAGE):
                            freed.discard(page)
                    insort(pmm_used_starts, addr)
                    pmm_used[addr] = (pages, held, owner, zone)
                    taken_at["pmm_alloc", addr] = position
                    if owner not in BACKEND_OWNERS:
                        requests.append(position)
                    recorder.position = position
                    error = checker.pmm.remove(addr, end)
                    if error:
                        checker.problem(makers[PMM_ALLOC](row), error)
                    replayed += 1
                    if resident:
                        checker.resident_reported = resident = None
                    continue
            resident = slow(index, position, makers[PMM_ALLOC](row))
        elif kind == PMM_FREE:
            row, ok, addr, pages, held, zone, owner = next_free()
            end = addr + held * PAGE
            if ok and not checker.expecting and checker.pmm is not None and \
                    pmm_used.get(addr) == (pages, held, owner, zone) and \
                    not (frames and _any_inside(frames, addr, end, held)) and \
                    not (table_pages and _any_inside(table_pages, addr, end, held)):
                del pmm_used_starts[bisect_left(pmm_used_starts, addr)]
                del pmm_used[addr]
                paired += 1
                pair("pmm_alloc", "pmm_free", addr, position)
                if owner not in BACKEND_OWNERS:
                    requests.append(position)
                recorder.position = position
                error = checker.pmm.add(addr, end)
                if error:
                    checker.problem(makers[PMM_FREE](row), error)
                replayed += 1
                if resident:
                    checker.resident_reported = resident = None
                continue
            resident = slow(index, position, makers[PMM_FREE](row))
        elif kind == KMALLOC:
            row, ok, ptr, given, chain = next_kmalloc()
            if ok and not checker.expecting and chain <= checker.chains_defined and \
                    ptr not in kmalloc_live:
                kmalloc_live[ptr] = given
                taken_at["kmalloc", ptr] = position
                requests.append(position)
                ledgers.totals["kmalloc bytes"].append((position, given))
                if resident:
                    checker.resident_reported = resident = None
                continue
            resident = slow(index, position, makers[KMALLOC](row))
        elif kind == KFREE:
            row, ok, ptr, given = next_kfree()
            if ok and not checker.expecting and kmalloc_live.get(ptr) == given:
                del kmalloc_live[ptr]
                paired += 1
                pair("kmalloc", "kfree", ptr, position)
                requests.append(position)
                ledgers.totals["kmalloc bytes"].append((position, -given))
                if resident:
                    checker.resident_reported = resident = None
                continue
            resident = slow(index, position, makers[KFREE](row))
        elif kind == SLAB_ALLOC:
            row, ok, obj, cache, chain = next_slab_alloc()
            if ok and not checker.expecting and chain <= checker.chains_defined and \
                    cache < checker.slab_caches and obj not in slab_live:
                slab_live[obj] = cache
                taken_at["slab_alloc", obj] = position
                slab_steps.append((position, cache, 1))
                if resident:
                    checker.resident_reported = resident = None
                continue
            resident = slow(index, position, makers[SLAB_ALLOC](row))
        elif kind == SLAB_FREE:
            row, ok, obj, cache = next_slab_free()
            if ok and not checker.expecting and slab_live.get(obj) == cache:
                del slab_live[obj]
                paired += 1
                pair("slab_alloc", "slab_free", obj, position)
                slab_steps.append((position, cache, -1))
                if resident:
                    checker.resident_reported = resident = None
                continue
            resident = slow(index, position, makers[SLAB_FREE](row))
        elif kind == VMM_RESERVE:
            row, ok, addr, pages, context, region_id, chain = next_reserve()
            region = _plain_region(checker, contexts, context, region_id) if ok else None
            end = addr + pages * PAGE
            if region is not None and chain <= checker.chains_defined and \
                    region.base <= addr < end <= region.end and context not in unreserved_maps:
                recorder.position = position
                if not region.free.remove(addr, end):
                    if context in process_contexts:
                        recent.append(("reserve", context, addr, end))
                    contexts[context].last_change = index
                    region.reservations[addr] = pages
                    replayed += 1
                    vmm_replayed += 1
                    ledgers.position = position
                    ledgers.reserved(context, addr)
                    if resident:
                        checker.resident_reported = resident = None
                    continue
            resident = slow(index, position, makers[VMM_RESERVE](row))
        elif kind == VMM_RELEASE:
            row, ok, addr, pages, context, region_id = next_release()
            region = _plain_region(checker, contexts, context, region_id) if ok else None
            end = addr + pages * PAGE
            if region is not None and region.reservations.get(addr) == pages and \
                    not _maps_inside(checker, mapped.get(context), context, addr, end):
                contexts[context].last_change = index
                del region.reservations[addr]
                recorder.position = position
                error = region.free.add(addr, end)
                if error:
                    checker.problem(makers[VMM_RELEASE](row), error)
                else:
                    replayed += 1
                    vmm_replayed += 1
                    ledgers.position = position
                    ledgers.released(context, addr)
                if resident:
                    checker.resident_reported = resident = None
                continue
            resident = slow(index, position, makers[VMM_RELEASE](row))
        elif kind == VMM_MAP:
            row, ok, virt, phys, context, page_size, flags = next_map()
            if ok and not checker.expecting and checker.pmm is not None and \
                    context not in process_contexts and phys not in freed and \
                    (context, virt) not in mappings:
                plain = _plain_map(checker, contexts, frames, virt, phys, context, page_size)
                if plain is not None:
                    direct, shared = plain
                    pages = 1 << 9 * page_size
                    insort(mapped[context], virt)
                    mapped_pages[context] += pages
                    if not direct:
                        key = (phys, context)
                        phys_mapped[key] = phys_mapped.get(key, 0) + 1
                        places = phys_places.get(phys)
                        if places is None:
                            places = phys_places[phys] = [0, 0]
                        places[0] += 1
                        places[1] += not shared
                        mappings_checked += 1
                    mappings[context, virt] = (phys, page_size, flags)
                    taken_at["vmm_map", (context, virt)] = position
                    ledgers.mapped[context].append((position, pages))
                    ledgers.mapped_now[context] += pages
                    if resident:
                        checker.resident_reported = resident = None
                    continue
            resident = slow(index, position, makers[VMM_MAP](row))
        elif kind == VMM_UNMAP:
            row, ok, virt, phys, context, page_size, flags = next_unmap()
            ctx = contexts.get(context)
            if ok and not checker.expecting and ctx is not None and not ctx.learned and \
                    context not in process_contexts and not unreserved_maps.get(context) and \
                    mappings.get((context, virt)) == (phys, page_size, flags):
                size = PAGE << 9 * page_size
                if any(r.base <= virt and virt + size <= r.end for r in ctx.regions):
                    virts = mapped[context]
                    del virts[bisect_left(virts, virt)]
                    pages = 1 << 9 * page_size
                    mapped_pages[context] -= pages
                    key = (phys, context)
                    left = phys_mapped.get(key)
                    if left is not None:
                        if left > 1:
                            phys_mapped[key] = left - 1
                        else:
                            del phys_mapped[key]
                        places = phys_places.get(phys)
                        if places is not None:
                            places[0] -= 1
                            places[1] -= not checker._in_shared_memory(ctx, virt)
                            if places[0] <= 0:
                                del phys_places[phys]
                    del mappings[context, virt]
                    paired += 1
                    pair("vmm_map", "vmm_unmap", (context, virt), position)
                    ledgers.mapped[context].append((position, -pages))
                    ledgers.mapped_now[context] -= pages
                    if resident:
                        checker.resident_reported = resident = None
                    continue
            resident = slow(index, position, makers[VMM_UNMAP](row))
        else:
            resident = slow(index, position, next(sources[kind]))
    checker.index = len(positions)
    report.events_replayed += replayed
    report.events_paired += paired
    report.vmm_events_replayed += vmm_replayed
    report.mappings_checked += mappings_checked


def _plain_region(checker, contexts, context, region_id):
    """The Region a vmm_reserve or vmm_release names when Replay._region would return it without
    a word (a live context replayed from its creation, a region whose free set is known) and the
    replay expects nothing; else None."""
    if checker.expecting:
        return None
    ctx = contexts.get(context)
    if ctx is None or ctx.learned or region_id >= len(ctx.regions):
        return None
    region = ctx.regions[region_id]
    return region if region is not None and region.free is not None else None


def _plain_map(checker, contexts, frames, virt, phys, context, page_size):
    """For a vmm_map of a live context replayed from its creation, already known to be aligned,
    new at its address, outside any process context and not of a freed frame: (in the direct
    map, in user shared memory) when every rule of Replay._check_leaf, _check_mapped_page and
    _check_page_source passes and the page lies where something is reserved; else None."""
    ctx = contexts.get(context)
    if ctx is None or ctx.learned:
        return None
    size = PAGE << 9 * page_size
    region_id = next((i for i, r in enumerate(ctx.regions)
                      if r.base <= virt and virt + size <= r.end), None)
    if region_id is None:
        return None
    region = ctx.regions[region_id]
    if region.free is not None and region.free.intersects(virt, virt + size):
        return None  # mapped before its reservation: Replay waits for it
    if (context, region_id) == DIRECT_MAP:
        return True, False
    shared = checker._in_shared_memory(ctx, virt)
    places = checker.phys_places.get(phys)
    if places is not None and places[0] and phys not in frames and (not shared or places[1]):
        return None
    starts = checker.pmm_used_starts
    i = bisect_right(starts, phys) - 1
    if i < 0:
        return None
    _, held, owner, _ = checker.pmm_used[starts[i]]
    if phys + size > starts[i] + held * PAGE or (region.owner is not None and
                                                  owner != region.owner):
        return None
    return False, shared


def _maps_inside(checker, virts, context, addr, end):
    """Whether the context still maps a page of [addr, end) (Replay._still_mapped's rule)."""
    if not virts:
        return False
    i = bisect_left(virts, addr)
    if i < len(virts) and virts[i] < end:
        return True
    return i > 0 and virts[i - 1] + (PAGE << 9 * checker.mappings[context, virts[i - 1]][1]) > addr


def _any_inside(pages, addr, end, held):
    """Whether some key of the dict or set `pages` lies in [addr, end) (held pages): by lookup
    of each page when that is fewer steps than walking the keys, as Replay.feed decides."""
    if held <= len(pages):
        return any(page in pages for page in range(addr, end, PAGE))
    return any(addr <= page < end for page in pages)
