"""Replay checking (analyzer/checking/replay.py) on hand-made event streams: a consistent stream passes,
and each kind of missing, extra, misplaced or wrong event is caught, with the first differing
extent named."""

from collections import namedtuple
from random import Random

from analyzer.definitions.events import FORMAT
from analyzer.checking.replay import FreeSet, _snapshot_set, check_replay, first_difference

PAGE = 4096
BASE = 0x400000
PAGE_TABLE = next(v for v, n in FORMAT.values["owner"].items() if n == "pagetable")
TEST_OWNER = next(v for v, n in FORMAT.values["owner"].items() if n == "test")
ZONE = {n: v for v, n in FORMAT.values["zone"].items()}
# The test pmm's zones, as its snapshots state them: every run below is in dma, the default zone.
DMA_END, DMA32_END = 1 << 20, 2 << 20


class Stream:
    """Builds events with the analyzer's own record classes, numbering seqs."""

    def __init__(self):
        self.events = []
        self.regions = {}  # context -> region count

    def __call__(self, name, **fields):
        event_type = FORMAT.events_by_name[name]
        tail = {"string": {"text": fields.pop("text", "")},
                "array": {"items": fields.pop("items", ())}}.get(event_type.kind, {})
        values = {f: 0 for f in event_type.fields.names}
        if name in ("pmm_alloc", "pmm_free"):  # an exact allocator holds what was asked for
            values["held"] = fields.get("pages", 0)
        values.update(fields)
        self.events.append(event_type.record(seq=len(self.events), timestamp=len(self.events),
                                             **values, **tail))
        return self

    def pmm_snapshot(self, *runs, dma_end=DMA_END, dma32_end=DMA32_END):
        item = FORMAT.events_by_name["pmm_snapshot"].item_record
        return self("pmm_snapshot", free_pages=sum(n for _, n in runs), dma_end=dma_end,
                    dma32_end=dma32_end, items=tuple(item(a * PAGE, n) for a, n in runs))

    def vmm_snapshot(self, context, region, *runs, base=BASE):
        item = FORMAT.events_by_name["vmm_snapshot"].item_record
        self("vmm_snapshot", context=context, region=region,
             items=tuple(item(base + a * PAGE, n) for a, n in runs))
        if region == self.regions.get(context, 0) - 1:  # as the kernel: its bookkeeping follows
            self("vmm_bookkeeping", context=context, bytes=4096)
        return self

    def context(self, context, *region_pages, base=BASE):
        self.regions[context] = len(region_pages)
        self("context_create", context=context)
        for r, pages in enumerate(region_pages):
            self("vmm_region", context=context, region=r, base=base + r * (1 << 30), pages=pages,
                 owner=TEST_OWNER, text=f"region{r}")
        return self

    def reserve(self, context, first, pages, region=0):
        return self("vmm_reserve", context=context, region=region, addr=BASE + first * PAGE,
                    pages=pages)

    def release(self, context, first, pages, region=0):
        return self("vmm_release", context=context, region=region, addr=BASE + first * PAGE,
                    pages=pages)

    def check(self):
        return check_replay(self.events)

    def problems(self):
        return [str(p) for p in self.check().problems]


def kernel_phase(name="work"):
    """Context 0 with one 64-page region, inside a phase with its snapshots at both ends."""
    s = Stream().context(0, 64)
    s("phase_begin", text=name).pmm_snapshot((0, 100)).vmm_snapshot(0, 0, (0, 64))
    return s


def end_phase(s, pmm_runs, vmm_runs, name="work"):
    s.pmm_snapshot(*pmm_runs).vmm_snapshot(0, 0, *vmm_runs)
    return s("phase_end", text=name)


def test_free_set_coalesces_and_refuses_overlaps():
    s = FreeSet([(0, 10), (20, 30)])
    assert s.add(10, 20) is None
    assert s.runs() == [(0, 30)]
    assert s.remove(5, 8) is None
    assert s.runs() == [(0, 5), (8, 30)]
    assert s.remove(4, 9) is not None  # straddles a used page
    assert s.add(7, 9) is not None  # page 8 is already free
    assert s.runs() == [(0, 5), (8, 30)]  # refused operations change nothing


def test_first_difference_names_address_length_and_side():
    replayed = FreeSet([(0, 10 * PAGE), (20 * PAGE, 30 * PAGE)])
    snapshot = FreeSet([(0, 10 * PAGE), (20 * PAGE, 24 * PAGE)])
    assert first_difference(replayed, snapshot) == \
        "first difference: [0x18000, +6 pages) free only in the replay"
    assert first_difference(snapshot, replayed) == \
        "first difference: [0x18000, +6 pages) free only in the snapshot"
    assert first_difference(replayed, replayed) is None


def test_consistent_stream_passes_and_counts_every_context():
    s = kernel_phase()
    s("pmm_alloc", addr=10 * PAGE, pages=5, owner=TEST_OWNER)
    s.reserve(0, 0, 4).release(0, 0, 4).reserve(0, 8, 2)
    s("pmm_free", addr=10 * PAGE, pages=5, owner=TEST_OWNER)
    s.context(1, 32, 16)
    s.reserve(1, 0, 3)
    s.vmm_snapshot(1, 0, (3, 29)).vmm_snapshot(1, 1, (0, 16), base=BASE + (1 << 30))
    s("context_destroy", context=1)
    end_phase(s, [(0, 100)], [(0, 8), (10, 54)])
    report = s.check()
    assert report.problems == []
    assert report.contexts_created == 2 and report.contexts_checked == 2
    assert report.vmm_events_replayed == 4 and report.events_replayed == 6


def test_missing_pmm_free_is_caught_with_the_first_differing_extent():
    s = kernel_phase()
    s("pmm_alloc", addr=10 * PAGE, pages=5, owner=TEST_OWNER)
    problems = end_phase(s, [(0, 100)], [(0, 64)]).problems()
    assert any("first difference: [0xa000, +5 pages) free only in the snapshot" in p
               for p in problems), problems


def test_deleted_reserve_is_caught_at_the_destroy_snapshot():
    """A context created and destroyed inside one phase is checked by its destroy snapshot."""
    def boot(with_reserve):
        s = kernel_phase().context(1, 32)
        if with_reserve:
            s.reserve(1, 0, 3)
        s.vmm_snapshot(1, 0, (3, 29))("context_destroy", context=1)
        return end_phase(s, [(0, 100)], [(0, 64)])
    assert boot(True).problems() == []
    problems = boot(False).problems()
    assert len(problems) == 1 and "[0x400000, +3 pages) free only in the replay" in problems[0]


def test_release_of_the_wrong_length_or_start_is_caught():
    s = kernel_phase().reserve(0, 0, 4).release(0, 0, 2)
    assert any("releases 2 pages at 0x400000, the reservation there is 4 pages" in p
               for p in s.problems())
    s = kernel_phase().reserve(0, 0, 4).release(0, 1, 3)
    assert any("no reservation starts at 0x401000" in p for p in s.problems())


def test_brk_resizes_the_heap_and_its_delta_must_match():
    def heap(*steps, delta=None):
        s = kernel_phase()
        for old, new in steps:
            s("vmm_brk", context=0, region=0, base=BASE, old_pages=old, new_pages=new)
            lo, n = min(old, new), abs(new - old)
            if delta:
                lo, n = delta
            (s.reserve if new > old else s.release)(0, lo, n)
        return s
    good = heap((0, 4), (4, 6), (6, 1))
    assert end_phase(good, [(0, 100)], [(1, 63)]).problems() == []
    assert any("is not the difference" in p for p in heap((0, 4), delta=(1, 3)).problems())
    # The tail of the heap is not a reservation of its own without a vmm_brk.
    assert any("no reservation starts at" in p for p in kernel_phase().reserve(0, 0, 4)
               .release(0, 2, 2).problems())
    # A vmm_brk whose old size is not the heap's.
    s = heap((0, 4))("vmm_brk", context=0, region=0, base=BASE, old_pages=5, new_pages=6)
    assert any("the heap at 0x400000 is 4 pages, not 5" in p for p in s.reserve(0, 5, 1)
               .problems())


def test_destroy_needs_a_snapshot_of_every_region_after_the_last_change():
    s = kernel_phase().context(1, 32, 16).vmm_snapshot(1, 0, (0, 32))("context_destroy", context=1)
    assert any("without a snapshot of each of its 2 regions" in p for p in s.problems())
    s = kernel_phase().context(1, 32).vmm_snapshot(1, 0, (0, 32)).reserve(1, 0, 1)
    s("context_destroy", context=1)
    assert any("changed after its last snapshot" in p for p in s.problems())


def test_phase_snapshots_must_cover_every_live_context():
    s = Stream().context(0, 64).context(1, 8)
    s("phase_begin", text="p").pmm_snapshot((0, 100)).vmm_snapshot(0, 0, (0, 64))
    s("pmm_alloc", addr=0, pages=1, owner=TEST_OWNER)
    assert any("first missing: context, region = (1, 0)" in p for p in s.problems())


def test_phase_names_must_nest():
    s = kernel_phase("a")("phase_begin", text="b")("phase_end", text="a")
    assert any("phase 'a' ends, but the open phase is 'b'" in p for p in s.problems())
    assert any("phase 'work' never ended" in p or "'a' never ended" in p
               for p in kernel_phase("a").problems())


def test_context_ids_and_regions_follow_creation_order():
    assert any("expected 0" in p for p in Stream().context(3, 8).problems())
    s = Stream()("context_create", context=0)("vmm_region", context=0, region=1, base=BASE,
                                                pages=8)
    assert any("not the next region" in p for p in s.problems())
    assert any("no region 1" in p for p in kernel_phase().reserve(0, 0, 1, region=1).problems())


def test_objects_are_paired_with_what_undoes_them():
    s = Stream()("kmalloc", ptr=0x1000, requested=10, given=16)("kfree", ptr=0x1000, given=32)
    assert any("was handed out with size 16, not 32" in p for p in s.problems())
    s = Stream()("pmm_alloc", addr=0, pages=1, owner=PAGE_TABLE)
    s("pmm_alloc", addr=PAGE, pages=1, owner=TEST_OWNER)  # the pmm's own pages may come between
    assert [p for p in s.problems() if "page-table page" in p] == \
        ["offset None: no pt_alloc for the page-table page 0x0"]
    s("kmalloc", ptr=0x1000, requested=10, given=16)
    assert any("expected the pt_alloc of the page-table page 0x0" in p for p in s.problems())
    s = Stream().context(0, 64)("vmm_map", context=0, virt=BASE, phys=0, page_size=0)
    s.reserve(0, 0, 1)
    assert s.problems() == []
    s.release(0, 0, 1)
    assert any("still maps a page of the released range" in p for p in s.problems())
    # A mapping waits for the next reservation to cover it (as brk's do), no longer.
    s = Stream().context(0, 64)("vmm_map", context=0, virt=BASE + 8 * PAGE, phys=0, page_size=0)
    s.reserve(0, 0, 1)
    assert any("0x408000 of context 0 is mapped but not reserved" in p for p in s.problems())
    s = Stream()("context_switch", from_context=0, to_context=0)("context_switch",
                                                                 from_context=1, to_context=0)
    assert any("leaves context 1, but 0 is active" in p for p in s.problems())


def test_zone_ends_come_from_the_snapshots_and_bound_every_run():
    assert end_phase(kernel_phase(), [(0, 100)], [(0, 64)]).problems() == []
    for ends, complaint in (((DMA32_END, DMA_END), "non-decreasing"),
                            ((DMA_END + 1, DMA32_END), "page-aligned")):
        s = Stream().pmm_snapshot((0, 100), dma_end=ends[0], dma32_end=ends[1])
        assert any("zone ends must be page-aligned and non-decreasing" in p and
                   complaint in p for p in s.problems())
    # the zones never change
    s = kernel_phase()
    s.pmm_snapshot((0, 100), dma_end=DMA_END + PAGE).vmm_snapshot(0, 0, (0, 64))
    assert any("a pmm's zones never change" in p for p in s("phase_end", text="work").problems())
    # no free extent crosses a zone end, and an allocation lies in the zone it names
    s = Stream().pmm_snapshot((DMA_END // PAGE - 1, 2))
    assert any("crosses the end of zone dma at 0x100000" in p for p in s.problems())
    s = Stream().pmm_snapshot((0, 100))("pmm_alloc", addr=0, pages=1, zone=ZONE["dma32"],
                                         owner=TEST_OWNER)
    assert any("is not in zone dma32 [0x100000, 0x200000)" in p for p in s.problems())
    s = Stream().context(0, 64)
    s("phase_begin", text="work").pmm_snapshot((0, 100), (DMA_END // PAGE, 100))
    s.vmm_snapshot(0, 0, (0, 64))
    s("pmm_alloc", addr=DMA_END, pages=1, zone=ZONE["dma32"], owner=TEST_OWNER)
    assert end_phase(s, [(0, 100), (DMA_END // PAGE + 1, 99)], [(0, 64)]).problems() == []


def test_a_loss_makes_state_unknown_until_the_next_snapshot():
    s = kernel_phase()("loss", count=3, reason=0)
    s.reserve(0, 5, 1)  # cannot be checked: the lost events may have freed page 5
    report = end_phase(s, [(0, 100)], [(0, 64)]).check()
    assert report.problems == [] and report.events_unchecked == 1
    s.reserve(0, 0, 2)
    s.vmm_snapshot(0, 0, (0, 64))
    assert any("free only in the replay" not in p and "free only in the snapshot" in p
               for p in s.problems())


def test_phase_snapshots_cover_many_live_contexts():
    """Every live context is snapshotted at a phase boundary, however many there are."""
    s = Stream()
    for c in range(100):
        s.context(c, 8)
    s("phase_begin", text="p").pmm_snapshot((0, 100))
    for c in range(100):
        s.vmm_snapshot(c, 0, (0, 8))
    s.pmm_snapshot((0, 100))
    for c in range(99):
        s.vmm_snapshot(c, 0, (0, 8))
    problems = s("phase_end", text="p").problems()
    assert len(problems) == 1 and "first missing: context, region = (99, 0)" in problems[0]


HEAP_OWNER = FORMAT.value_numbers["MM_OWNER_HEAP"]
SHARED_MEMORY = FORMAT.value_numbers["VMM_UREGION_SHM"]


def mapped_page(s, context, region, page, phys_page, owner=None):
    """Reserves `page` of `region` in `context` and maps physical page `phys_page` there (after
    a pmm_alloc of it as `owner`, unless owner is None: already allocated)."""
    if owner is not None:
        s("pmm_alloc", addr=phys_page * PAGE, pages=1, owner=owner)
    base = BASE + region * (1 << 30)
    s("vmm_reserve", context=context, region=region, addr=base + page * PAGE, pages=1)
    return s("vmm_map", context=context, virt=base + page * PAGE, phys=phys_page * PAGE)


def owner_or_sharing_problems(s):
    return [p for p in s.problems() if "owner" in p or "mapped twice" in p]


def test_every_mapped_page_is_of_its_regions_owner():
    """Exact, page by page: a region whose every page is of another owner than its vmm_region
    states is refused (no majority can vouch for it), at each such page."""
    right = mapped_page(kernel_phase(), 0, 0, 0, 10, owner=TEST_OWNER)
    assert owner_or_sharing_problems(right) == []
    s = kernel_phase()
    for page in range(3):
        mapped_page(s, 0, 0, page, 10 + page, owner=HEAP_OWNER)
    problems = owner_or_sharing_problems(s)
    assert len(problems) == 3 and all(
        "a page of owner heap, in region region0 of context 0, whose pages are owner test" in p
        for p in problems), problems


def test_a_region_naming_no_owner_is_refused():
    s = Stream()("context_create", context=0)("vmm_region", context=0, region=0, base=BASE,
                                                pages=8, owner=0, text="anonymous")
    assert any("region anonymous of context 0 names no owner" in p for p in s.problems())


def test_a_page_is_mapped_once_unless_both_places_are_user_shared_memory():
    def two_places(first, second):
        s = kernel_phase().context(1, 8, 8, 8).context(2, 8, 8, 8)
        mapped_page(s, *first, 10, owner=TEST_OWNER)
        return owner_or_sharing_problems(mapped_page(s, *second, 10))

    assert two_places((1, SHARED_MEMORY, 0), (2, SHARED_MEMORY, 0)) == []
    for first, second in (((1, 0, 0), (2, 0, 0)),  # two contexts' private regions
                          ((1, SHARED_MEMORY, 0), (2, 0, 0)),  # shared on one side only
                          ((1, 0, 0), (1, 0, 1)),  # twice in one context
                          ((0, 0, 5), (1, SHARED_MEMORY, 0))):  # the kernel's and shared
        problems = two_places(first, second)
        assert len(problems) == 1 and "maps 0xa000, which is already mapped in 1 other place" \
            in problems[0], (first, second, problems)


def test_a_snapshots_free_set_is_the_one_its_items_add_up_to_one_by_one():
    """_snapshot_set coalesces a sound item list in one pass; on any list (unsorted, empty or
    overlapping items included) it must hold what adding the items one by one holds."""
    item = namedtuple("item", "addr pages")
    rng = Random(3)
    for _ in range(5000):
        items = [item(rng.randrange(0, 40) * PAGE, rng.randrange(0, 4))
                 for _ in range(rng.randrange(0, 8))]
        if rng.random() < 0.5:
            items.sort()
        one_pass = _snapshot_set(items)
        one_by_one = FreeSet((i.addr, i.addr + i.pages * PAGE) for i in items)
        assert (one_pass.starts, one_pass.ends) == (one_by_one.starts, one_by_one.ends), items
