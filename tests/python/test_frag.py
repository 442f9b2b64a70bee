"""Fragmentation metrics equal values computed by hand on crafted free extents, and the frag
replay of a real trace agrees with its snapshots."""

import struct

import numpy as np
import pytest

from analyzer.bulk import BulkTrace
from analyzer.events import FORMAT
from analyzer.frag import (MAX_ORDER, buddy_blocks, fragmentation_index, unusable_index,
                           zone_metrics)
from analyzer.replay import zone_ranges

PAGE = 4096


def blocks_of(*extents):
    return buddy_blocks([a for a, _ in extents], [a + n for a, n in extents])


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


def test_zone_metrics_split_extents_at_the_zone_ends_the_trace_states():
    # DMA ends at 4 MiB, DMA32 at 8 MiB: not amd64's, so nothing but the snapshot can say so
    dma_end, dma32_end = 4 << 20, 8 << 20
    zones = zone_metrics([dma_end - (1 << 20)], [dma_end + (2 << 20)],
                         snapshot_zones(dma_end, dma32_end))
    assert list(zones) == ["dma", "dma32", "normal"]
    assert zones["dma"].free_pages == 256 and zones["dma"].largest == 256
    assert zones["dma32"].free_pages == 512 and zones["dma32"].extents == 1
    assert zones["dma"].blocks.tolist() == [0] * 8 + [1] + [0, 0]
    assert zones["normal"].free_pages == 0 and zones["normal"].unusable[0] == 1.0
    # an extent crossing the DMA32 end is counted on both sides of it
    zones = zone_metrics([dma32_end - (1 << 20)], [dma32_end + (1 << 20)],
                         snapshot_zones(dma_end, dma32_end))
    assert zones["dma32"].free_pages == 256 and zones["normal"].free_pages == 256


def test_replay_of_a_real_trace_samples_every_snapshot(kernel_traces):
    from analyzer.frag import replay_series
    trace = BulkTrace.open(kernel_traces["list"])
    series = replay_series(trace)
    snapshots = trace.others_named("pmm_snapshot")
    assert len(series.samples) >= len(snapshots)
    # each pmm snapshot's own free pages equal the sample taken right after it
    by_position = {s.position: s for s in series.samples}
    for snap in snapshots:
        sample = by_position[snap.position]
        assert sum(z.free_pages for z in sample.zones.values()) == snap.free_pages


def _same_series(a, b):
    assert a.events_replayed == b.events_replayed
    assert [(s.position, s.seq, s.phase, s.virtual) for s in a.samples] == \
        [(s.position, s.seq, s.phase, s.virtual) for s in b.samples]
    for x, y in zip(a.samples, b.samples):
        assert {z: (v.free_pages, v.extents, v.largest, v.blocks.tolist()) for z, v in
                x.zones.items()} == {z: (v.free_pages, v.extents, v.largest, v.blocks.tolist())
                                     for z, v in y.zones.items()}
    assert [(p, n, [tuple(map(int, r)) for r in runs]) for p, n, runs in a.phase_ends] == \
        [(p, n, [tuple(map(int, r)) for r in runs]) for p, n, runs in b.phase_ends]
    assert {k: [tuple(map(int, r)) for r in v] for k, v in a.final_virtual.items()} == \
        {k: [tuple(map(int, r)) for r in v] for k, v in b.final_virtual.items()}


@pytest.mark.parametrize("backend", ["pagetable", "list"])
def test_bulk_replay_equals_the_stepwise_replay(kernel_traces, backend):
    from analyzer import frag, frag_bulk
    trace = BulkTrace.open(kernel_traces[backend])
    bulk = frag_bulk.replay(trace)
    assert bulk is not None  # a real trace is replayed in bulk, not by the fallback
    _same_series(bulk, frag.replay_series_stepwise(trace))


def test_bulk_replay_equals_the_stepwise_replay_on_a_benchmark_trace(tmp_path):
    import importlib.util
    from analyzer import frag, frag_bulk
    from conftest import REPO
    spec = importlib.util.spec_from_file_location(
        "analyzer_throughput", REPO / "benchmarks" / "analyzer_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path / "bench.pstrace"
    path.write_bytes(bench.make_trace(40_000, seed=3))
    trace = BulkTrace.open(path)
    bulk = frag_bulk.replay(trace)
    assert bulk is not None and bulk.events_replayed > 20_000
    _same_series(bulk, frag.replay_series_stepwise(trace))


def test_bulk_replay_hands_a_bad_step_to_the_stepwise_replay(kernel_traces, tmp_path):
    """A pmm_free of pages that are already free: the bulk replay declines, and the stepwise
    replay names the record."""
    from analyzer import frag_bulk
    from analyzer.frag import replay_series
    from analyzer.reader import TraceError
    trace = BulkTrace.open(kernel_traces["list"])
    frees = trace.of("pmm_free")
    first_snapshot = trace.others_named("pmm_snapshot")[0].position
    victim = frees[frees["position"] > first_snapshot][3]
    # a free of a run that lies inside the first snapshot's free extents
    snap = trace.others_named("pmm_snapshot")[0]
    data = bytearray(kernel_traces["list"].read_bytes())
    offset = int(trace.offsets[victim["position"]])
    struct.pack_into("<QI", data, offset + 16, int(snap.items["addr"][0]), 1)
    bad = tmp_path / "bad.pstrace"
    bad.write_bytes(bytes(data))
    bad_trace = BulkTrace.open(bad)
    assert frag_bulk.replay(bad_trace) is None
    with pytest.raises(TraceError) as error:
        replay_series(bad_trace)
    assert error.value.offset == offset and "already partly free" in str(error.value)
