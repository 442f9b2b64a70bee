"""Fragmentation metrics equal values computed by hand on crafted free extents; the one replay
(analyzer/metrics/state.py) follows a real trace's snapshots and refuses what `check` refuses."""

import struct

import numpy as np
import pytest

from analyzer.reading.bulk import BulkTrace
from analyzer.definitions.events import FORMAT
from analyzer.metrics.frag import MAX_ORDER, block_counts, fragmentation_index, unusable_index
from analyzer.checking.replay import FreeSet, zone_ranges
from analyzer.metrics.timeline import Recorder

PAGE = 4096


def blocks_of(*extents):
    counts = np.zeros(MAX_ORDER + 1, dtype=np.int64)
    for a, n in extents:
        counts += block_counts(a, a + n)
    return counts


def test_extent_decomposes_into_the_buddy_blocks_linux_would_hold():
    # pfns 1..7: 1 | 2-3 | 4-7
    assert blocks_of((1, 7)).tolist() == [1, 1, 1] + [0] * (MAX_ORDER - 2)
    # pfns 3..12 (10 pages): 3 | 4-7 | 8-11 | 12
    assert blocks_of((3, 10)).tolist() == [2, 0, 2] + [0] * (MAX_ORDER - 2)
    # 2^12 aligned pages are four order-10 blocks (Linux's largest), nothing bigger
    assert blocks_of((4096, 4096)).tolist() == [0] * MAX_ORDER + [4]
    # one page short of an aligned 2^10 run: orders 0..9 once each
    assert blocks_of((1, 1023)).tolist() == [1] * MAX_ORDER + [0]


def test_decomposition_matches_a_page_by_page_greedy_split():
    rng = np.random.default_rng(7)
    for _ in range(300):
        first = int(rng.integers(0, 1 << 22))
        pages = int(rng.integers(1, 5000))
        expected = [0] * (MAX_ORDER + 1)
        p, end = first, first + pages
        while p < end:
            order = 0
            while (order < MAX_ORDER and p % (2 << order) == 0 and p + (2 << order) <= end):
                order += 1
            expected[order] += 1
            p += 1 << order
        assert blocks_of((first, pages)).tolist() == expected, (first, pages)


def test_indices_equal_hand_computed_values():
    # free: pfn 1 (order 0), pfns 2-3 (order 1), pfns 8-11 (order 2): 7 pages in 3 blocks
    blocks = blocks_of((1, 3), (8, 4))
    assert blocks.tolist()[:3] == [1, 1, 1]
    # order 0: every page usable
    assert unusable_index(blocks, 0) == 0.0
    # order 1: suitable = 1 + 2 = 3 blocks of 2 pages = 6 pages; (7 - 6) / 7
    assert unusable_index(blocks, 1) == pytest.approx(1 / 7)
    # order 2: suitable = 1 block of 4; (7 - 4) / 7
    assert unusable_index(blocks, 2) == pytest.approx(3 / 7)
    # order 3: nothing suitable
    assert unusable_index(blocks, 3) == 1.0
    # fragmentation index: -1 while a suitable block exists
    assert fragmentation_index(blocks, 2) == -1.0
    # order 3: 1 - (1 + 7/8) / 3 = 0.375
    assert fragmentation_index(blocks, 3) == pytest.approx(0.375)
    # order 4: 1 - (1 + 7/16) / 3
    assert fragmentation_index(blocks, 4) == pytest.approx(1 - (1 + 7 / 16) / 3)
    empty = blocks_of()
    assert unusable_index(empty, 0) == 1.0 and fragmentation_index(empty, 0) == 0.0


def snapshot_zones(dma_end, dma32_end):
    """The zones a pmm_snapshot with these ends states."""
    snapshot = FORMAT.events_by_name["pmm_snapshot"].record(
        seq=0, timestamp=0, free_pages=0, dma_end=dma_end, dma32_end=dma32_end, items=())
    return zone_ranges(snapshot)


def test_zones_come_from_the_snapshot_named_by_the_zone_group():
    zones = snapshot_zones(1 << 20, 3 << 20)
    assert [name for name, _, _ in zones] == [FORMAT.values["zone"][z] for z in range(3)]
    assert [(start, end) for _, start, end in zones] == [(0, 1 << 20), (1 << 20, 3 << 20),
                                                         (3 << 20, 1 << 64)]


def zone_figures(runs, zones):
    """{zone: (free pages, extents, largest, blocks)} a Recorder counts for free runs (bytes)."""
    recorder = Recorder()
    recorder.pmm_known(FreeSet(runs), zones)
    line = recorder.finish()
    return {name: (int(z.free_pages[-1]), int(z.extents[-1]), int(z.largest[-1]),
                   z.blocks[-1].tolist()) for name, z in line.zones.items()}


def test_zone_figures_split_extents_at_the_zone_ends_the_trace_states():
    # DMA ends at 4 MiB, DMA32 at 8 MiB: not amd64's, so nothing but the snapshot can say so
    dma_end, dma32_end = 4 << 20, 8 << 20
    zones = zone_figures([(dma_end - (1 << 20), dma_end + (2 << 20))],
                         snapshot_zones(dma_end, dma32_end))
    assert list(zones) == ["dma", "dma32", "normal"]
    assert zones["dma"][:3] == (256, 1, 256)
    assert zones["dma32"][:2] == (512, 1)
    assert zones["dma"][3] == [0] * 8 + [1] + [0, 0]
    assert zones["normal"][0] == 0
    # an extent crossing the DMA32 end is counted on both sides of it
    zones = zone_figures([(dma32_end - (1 << 20), dma32_end + (1 << 20))],
                         snapshot_zones(dma_end, dma32_end))
    assert zones["dma32"][0] == 256 and zones["normal"][0] == 256


def test_a_recorder_follows_every_change_of_the_set_it_watches():
    """Each take and give of the watched FreeSet is one row; a change that leaves the figures
    as they were adds none."""
    zones = snapshot_zones(1 << 30, 2 << 30)
    recorder = Recorder()
    free = FreeSet([(0, 64 * PAGE)])
    recorder.pmm_known(free, zones)
    recorder.position = 5
    assert free.remove(8 * PAGE, 9 * PAGE) is None
    recorder.position = 6
    assert free.add(8 * PAGE, 9 * PAGE) is None
    dma = recorder.finish().zones["dma"]
    assert dma.positions.tolist() == [0, 5, 6]
    assert dma.free_pages.tolist() == [64, 63, 64]
    assert dma.extents.tolist() == [1, 2, 1]
    assert dma.largest.tolist() == [64, 55, 64]


def test_the_one_replay_of_a_real_trace_meets_every_pmm_snapshot(kernel_traces):
    from analyzer.metrics.state import replay
    trace = BulkTrace.open(kernel_traces["list"])
    line = replay(trace).timeline
    for snap in trace.others_named("pmm_snapshot"):
        free = 0
        for z in line.zones.values():
            i = np.searchsorted(z.positions, snap.position, side="right") - 1
            free += int(z.free_pages[i])
        assert free == snap.free_pages


def test_the_one_replay_refuses_a_bad_step_at_its_record(kernel_traces, tmp_path):
    """A pmm_free of pages that are already free: refused at that record with the problem
    `check` lists first there."""
    from analyzer.reading.reader import TraceError
    from analyzer.metrics.state import load
    trace = BulkTrace.open(kernel_traces["list"])
    frees = trace.of("pmm_free")
    first_snapshot = trace.others_named("pmm_snapshot")[0].position
    victim = frees[frees["position"] > first_snapshot][3]
    # a free of a run that lies inside the first snapshot's free extents
    snap = trace.others_named("pmm_snapshot")[0]
    data = bytearray(kernel_traces["list"].read_bytes())
    offset = int(trace.offsets[victim["position"]])
    struct.pack_into("<QI", data, offset + FORMAT.record_header.size, int(snap.items["addr"][0]), 1)
    bad = tmp_path / "bad.pstrace"
    bad.write_bytes(bytes(data))
    with pytest.raises(TraceError) as error:
        load(bad)
    from analyzer.__main__ import read_trace
    _, _, problems = read_trace(bad, replay=True)  # what `analyzer check` lists
    assert error.value.offset == offset == problems[0].offset
    assert problems[0].text in str(error.value) and f"{len(problems) - 1} more" in str(error.value)
    assert any("already partly free" in p for p in problems)
