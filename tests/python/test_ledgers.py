"""What the one replay held (analyzer/metrics/ledgers.py), on hand-made event streams whose
answer is worked out by hand here: when each allocation ended, which free gave back which
allocation, the running totals, the workload's requests, and that an event the replay refuses
is recorded nowhere."""

import numpy as np

from analyzer.checking.replay import Replay
from analyzer.definitions.events import FORMAT
from analyzer.metrics.ledgers import ALIVE, Ledgers
from test_replay import BASE, PAGE, PAGE_TABLE, TEST_OWNER, Stream, end_phase, kernel_phase


class Columns:
    """The part of a BulkTrace that Ledgers.finish reads, built from the same events: each
    event is one record, so its position is its index in the stream."""

    def __init__(self, events):
        self.events = events

    def of(self, name):
        positions = [i for i, e in enumerate(self.events) if type(e).__name__ == name]
        return np.array([(p,) for p in positions], dtype=[("position", np.int64)])

    def others_named(self, *names):
        return [e for e in self.events if type(e).__name__ in names]


def replayed(stream):
    ledgers = Ledgers()
    replay = Replay(recorder=None, ledgers=ledgers)
    for position, event in enumerate(stream.events):
        ledgers.position = position
        replay.feed(event)
    report = replay.finish()
    return report, ledgers.finish(Columns(stream.events))


def test_each_allocation_ends_where_the_replay_gave_it_back():
    s = kernel_phase()                                                     # positions 0..5 (kernel_phase)
    s("pmm_alloc", addr=10 * PAGE, pages=5, owner=TEST_OWNER)              # 6
    s("pmm_alloc", addr=20 * PAGE, pages=1, owner=TEST_OWNER)              # 7
    s("pmm_free", addr=10 * PAGE, pages=5, owner=TEST_OWNER)               # 8
    s("pmm_alloc", addr=10 * PAGE, pages=5, owner=TEST_OWNER)              # 9: same address
    s("pmm_free", addr=10 * PAGE, pages=5, owner=TEST_OWNER)               # 10
    s("pmm_free", addr=20 * PAGE, pages=1, owner=TEST_OWNER)               # 11
    report, held = replayed(end_phase(s, [(0, 100)], [(0, 64)]))
    assert report.problems == []
    assert held.ends["pmm_alloc"].tolist() == [8, 11, 10]
    assert held.gave_back["pmm_free"].tolist() == [0, 2, 1]  # rows of pmm_alloc


def test_a_reservation_ends_at_its_release_or_with_its_context():
    s = kernel_phase().context(1, 32)                           # 6..7
    s.reserve(1, 0, 3)                                          # 8
    s.reserve(1, 3, 2)                                          # 9
    s.release(1, 3, 2)                                          # 10
    s.vmm_snapshot(1, 0, (3, 29))                               # 11, 12 (its bookkeeping)
    s("context_destroy", context=1)                             # 13
    s.reserve(0, 0, 4)                                          # 14: alive at the end
    report, held = replayed(end_phase(s, [(0, 100)], [(4, 60)]))
    assert report.problems == []
    assert held.ends["vmm_reserve"].tolist() == [13, 10, ALIVE]
    assert held.gave_back["vmm_release"].tolist() == [1]


def test_running_totals_follow_the_replays_ledgers():
    s = kernel_phase()                                                                # 0..5 (kernel_phase)
    s("pmm_alloc", addr=30 * PAGE, pages=1, owner=PAGE_TABLE)                         # 6
    s("pt_alloc", phys=30 * PAGE, level=1, context=0)                                 # 7
    s("kmalloc", ptr=0x1000, requested=24, given=32)                                  # 8
    s("kmalloc", ptr=0x2000, requested=100, given=128)                                # 9
    s("kfree", ptr=0x1000, given=32)                                                  # 10
    s("slab_cache_create", cache=0, object_size=48, text="things")                    # 11
    s("slab_alloc", cache=0, object=0x5000)                                           # 12
    s("slab_free", cache=0, object=0x5000)                                            # 13
    s("pt_free", phys=30 * PAGE, level=1, context=0)                                  # 14
    s("pmm_free", addr=30 * PAGE, pages=1, owner=PAGE_TABLE)                          # 15
    report, held = replayed(end_phase(s, [(0, 100)], [(0, 64)]))
    assert report.problems == []
    positions, deltas = held.totals["page-table pages"]
    assert (positions.tolist(), np.cumsum(deltas).tolist()) == ([7, 14], [1, 0])
    positions, deltas = held.totals["kmalloc bytes"]
    assert (positions.tolist(), np.cumsum(deltas).tolist()) == ([8, 9, 10], [32, 160, 128])
    positions, deltas = held.totals["slab bytes"]
    assert (positions.tolist(), np.cumsum(deltas).tolist()) == ([12, 13], [48, 0])
    # requests: the two kmallocs and the kfree; the page-table page is the backend's own
    assert held.requests.tolist() == [8, 9, 10]


def test_requests_count_refusals_and_leave_out_the_backends_pages():
    s = kernel_phase()                                                                # 0..5 (kernel_phase)
    s("pmm_alloc", addr=40 * PAGE, pages=2, owner=TEST_OWNER)                         # 6
    s("pmm_alloc_fail", pages=1000, owner=TEST_OWNER)                                 # 7
    s("pmm_alloc_fail", pages=1000, owner=PAGE_TABLE)                                 # 8
    s("kmalloc_fail", requested=1 << 30)                                              # 9
    s.reserve(0, 0, 4)                                                                # 10
    s("pmm_free", addr=40 * PAGE, pages=2, owner=TEST_OWNER)                          # 11
    report, held = replayed(end_phase(s, [(0, 100)], [(4, 60)]))
    assert report.problems == []
    assert held.requests.tolist() == [6, 7, 9, 10, 11]


def test_what_the_replay_refuses_is_recorded_nowhere():
    s = kernel_phase()                                                                # 0..5 (kernel_phase)
    s("pmm_alloc", addr=10 * PAGE, pages=5, owner=TEST_OWNER)                         # 6
    s("kfree", ptr=0x1000, given=32)                                                  # 7: never handed out
    s("pmm_free", addr=10 * PAGE, pages=4, owner=TEST_OWNER)                          # 8: wrong size
    s.release(0, 0, 4)                                                                # 9: nothing reserved
    report, held = replayed(s)
    assert len(report.problems) >= 3
    assert "kmalloc bytes" not in held.totals
    assert held.ends["pmm_alloc"].tolist() == [ALIVE]
    assert held.gave_back["pmm_free"].tolist() == [-1]
    assert held.gave_back["vmm_release"].tolist() == [-1]
    assert held.requests.tolist() == [6]


def test_a_contexts_mapped_pages_go_with_it():
    """A context destroyed with mappings left drops them (its page tables go), so the next
    context with its id starts from nothing."""
    s = kernel_phase().context(1, 32)                                                 # 6..7
    s("pmm_alloc", addr=50 * PAGE, pages=2, owner=TEST_OWNER)                         # 8
    s("vmm_map", context=1, virt=BASE, phys=50 * PAGE, page_size=0)                   # 9
    s("vmm_map", context=1, virt=BASE + PAGE, phys=51 * PAGE, page_size=0)            # 10
    s("vmm_unmap", context=1, virt=BASE, phys=50 * PAGE, page_size=0)                 # 11
    s.reserve(1, 0, 2)                                                                # 12
    s.vmm_snapshot(1, 0, (2, 30))                                                     # 13, 14
    s("context_destroy", context=1)                                                   # 15
    report, held = replayed(s)
    assert [str(p) for p in report.problems if "phase" not in str(p)] == []
    positions, deltas = held.mapped[1]
    assert (positions.tolist(), np.cumsum(deltas).tolist()) == ([9, 10, 11, 15], [1, 2, 1, 0])
