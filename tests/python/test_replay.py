"""Replay checking (analyzer/replay.py) on hand-made event streams: it accepts a consistent
stream and catches a missing, duplicated or misplaced event."""

from collections import namedtuple

from analyzer.replay import FreeSet, check_replay

PAGE = 4096
Item = namedtuple("item", "addr pages")
pmm_snapshot = namedtuple("pmm_snapshot", "seq free_pages items")
pmm_alloc = namedtuple("pmm_alloc", "seq addr pages")
pmm_free = namedtuple("pmm_free", "seq addr pages")
vmm_snapshot = namedtuple("vmm_snapshot", "seq context region items")
vmm_reserve = namedtuple("vmm_reserve", "seq addr pages context region")
vmm_release = namedtuple("vmm_release", "seq addr pages context region")
context_destroy = namedtuple("context_destroy", "seq context")


def pmm_snap(seq, *runs):
    items = tuple(Item(a * PAGE, n) for a, n in runs)
    return pmm_snapshot(seq, sum(n for _, n in runs), items)


def test_free_set_coalesces_and_refuses_overlaps():
    s = FreeSet([(0, 10), (20, 30)])
    assert s.add(10, 20) is None
    assert s.runs() == [(0, 30)]
    assert s.remove(5, 8) is None
    assert s.runs() == [(0, 5), (8, 30)]
    assert s.remove(4, 9) is not None  # straddles a used page
    assert s.add(7, 9) is not None  # page 8 is already free
    assert s.runs() == [(0, 5), (8, 30)]  # refused operations change nothing


def test_consistent_stream_passes():
    events = [
        pmm_snap(0, (0, 100)),
        pmm_alloc(1, 10 * PAGE, 5),
        pmm_alloc(2, 0, 1),
        pmm_free(3, 10 * PAGE, 5),
        pmm_snap(4, (1, 99)),
    ]
    report = check_replay(events)
    assert report.problems == []
    assert report.snapshots_checked == 1 and report.events_replayed == 3


def test_missing_free_is_caught():
    events = [pmm_snap(0, (0, 100)), pmm_alloc(1, 10 * PAGE, 5), pmm_snap(2, (0, 100))]
    assert check_replay(events).problems


def test_double_free_in_the_stream_is_caught():
    events = [pmm_snap(0, (0, 100)), pmm_alloc(1, 0, 5), pmm_free(2, 0, 5), pmm_free(3, 0, 5)]
    assert "already partly free" in check_replay(events).problems[0]


def test_zone_split_snapshot_runs_compare_as_maximal_runs():
    # The kernel splits free extents at zone boundaries; replay does not know zones.
    events = [pmm_snap(0, (0, 4096), (4096, 10)), pmm_alloc(1, 0, 1), pmm_free(2, 0, 1),
              pmm_snap(3, (0, 4096), (4096, 10))]
    assert check_replay(events).problems == []


def test_vmm_replay_per_context_and_region():
    base = 0x400000
    snap = lambda seq, ctx, *runs: vmm_snapshot(seq, ctx, 0, tuple(Item(base + a * PAGE, n) for a, n in runs))
    good = [snap(0, 1, (0, 64)), vmm_reserve(1, base, 4, 1, 0), vmm_release(2, base, 2, 1, 0),
            snap(3, 1, (0, 2), (4, 60))]
    assert check_replay(good).problems == []
    wrong_context = [snap(0, 1, (0, 64)), snap(1, 2, (0, 64)), vmm_reserve(2, base, 4, 2, 0),
                     snap(3, 1, (4, 60))]
    assert check_replay(wrong_context).problems
    # A destroyed context is forgotten: a new one with the same id starts from its own snapshot.
    reused = [snap(0, 1, (0, 64)), context_destroy(1, 1), snap(2, 1, (8, 56)), snap(3, 1, (8, 56))]
    assert check_replay(reused).problems == []
