"""Fragmentation over time: Linux's metrics over the free memory a replay of the trace maintains.

Physical memory. pagescope's pmm keeps free memory as extents of any length, not as buddy
blocks. To compare with Linux, each free extent is counted the way Linux's buddy allocator would
hold the same pages: decomposed into aligned power-of-two blocks (at each page, the largest block
that is aligned there and fits), capped at order MAX_ORDER (4 MiB, Linux's largest on x86-64).
For example the 7 free pages at pfns 1-7 are blocks of order 0 (pfn 1), 1 (pfns 2-3) and
2 (pfns 4-7), which is what buddy merging would leave of them. Zones are the pmm's, ending where
every pmm_snapshot says they do (amd64: below 16 MiB, below 4 GiB, above, like Linux's DMA, DMA32
and Normal), named by events.def's `zone` group (replay.zone_ranges). From those block counts, per
zone and order s (mm/vmstat.c):

    free_pages = sum blocks[o] * 2^o        blocks_total = sum blocks[o]
    suitable   = sum_{o >= s} blocks[o] * 2^(o - s)
    unusable free space index = (free_pages - suitable * 2^s) / free_pages   (1 when nothing free)
    fragmentation index       = -1 when suitable > 0 (the request would succeed),
                                0 when blocks_total = 0, else 1 - (1 + free_pages / 2^s) / blocks_total

Linux prints both x1000; here they are fractions. Also per zone: free extents (as pagescope holds
them) and the largest one.

Virtual memory, per context and region: free ranges and the largest hole, from vmm_reserve and
vmm_release replayed from the region's first snapshot.

The replay is the one `check` does (analyzer/replay.py's FreeSet); every snapshot must equal it,
or the trace is refused as inconsistent.
"""

import csv
from dataclasses import dataclass, field

import numpy as np

from .events import FORMAT
from .reader import TraceError
from .replay import PAGE, FreeSet, bad_zone_ranges, zone_ranges, zone_text

MAX_ORDER = 10
ORDERS = np.arange(MAX_ORDER + 1)
SAMPLES_WANTED = 400  # evenly spaced samples, besides one after every snapshot


def buddy_blocks(first_pages, end_pages):
    """Blocks per order (array of MAX_ORDER + 1) that extents [first, end) (page numbers)
    decompose into. Each extent is split at its most aligned page m: [first, m) decomposes into
    the set bits of m - first, [m, end) into those of end - m; bits above MAX_ORDER count as that
    many MAX_ORDER blocks."""
    first = np.asarray(first_pages, dtype=np.uint64)
    end = np.asarray(end_pages, dtype=np.uint64)
    counts = np.zeros(MAX_ORDER + 1, dtype=np.int64)
    if not len(first):
        return counts
    differ = first ^ end
    top = np.zeros(len(first), dtype=np.uint64)
    nonzero = differ > 0
    top[nonzero] = np.floor(np.log2(differ[nonzero].astype(np.float64))).astype(np.uint64)
    # float log2 can be off by one near powers of two above 2^52: fix it exactly
    top = np.where((np.uint64(1) << top) > differ, top - np.uint64(1), top)
    top = np.where((top < 63) & ((np.uint64(1) << (top + np.uint64(1))) <= differ),
                   top + np.uint64(1), top)
    split = end & ~((np.uint64(1) << top) - np.uint64(1))
    low_orders = np.arange(MAX_ORDER, dtype=np.uint64)
    for part in (split - first, end - split):
        counts[:MAX_ORDER] += ((part[:, None] >> low_orders) & np.uint64(1)).sum(axis=0,
                                                                             dtype=np.int64)
        counts[MAX_ORDER] += int((part >> np.uint64(MAX_ORDER)).sum())
    return counts


# SUITABLE[s, o] = 2^(o - s) for o >= s: blocks of order o hold that many order-s requests
SUITABLE = np.triu(2.0 ** (ORDERS[None, :] - ORDERS[:, None]))


def indices(blocks):
    """(unusable free space index, fragmentation index), each an array over orders 0..MAX_ORDER,
    from the free block counts per order (the formulas in this module's docstring)."""
    blocks = np.asarray(blocks, dtype=np.float64)
    free_pages = float((blocks * 2.0 ** ORDERS).sum())
    total = float(blocks.sum())
    suitable = SUITABLE @ blocks
    request = 2.0 ** ORDERS
    unusable = (np.ones(len(ORDERS)) if free_pages == 0 else
                (free_pages - suitable * request) / free_pages)
    fragmentation = np.where(suitable > 0, -1.0,
                             0.0 if total == 0 else 1.0 - (1.0 + free_pages / request) / total)
    return unusable, fragmentation


def unusable_index(blocks, order):
    return float(indices(blocks)[0][order])


def fragmentation_index(blocks, order):
    return float(indices(blocks)[1][order])


@dataclass
class ZoneSample:
    free_pages: int
    extents: int
    largest: int
    blocks: np.ndarray
    unusable: list
    fragmentation: list


def zone_metrics(starts, ends, zones):
    """{zone name: ZoneSample} for free runs [starts, ends) in bytes, cut at the zones
    ((name, first byte, end byte), ... as replay.zone_ranges gives them)."""
    first = np.asarray(starts, dtype=np.uint64) // np.uint64(PAGE)
    end = np.asarray(ends, dtype=np.uint64) // np.uint64(PAGE)
    out = {}
    for name, low, high in zones:
        a = np.maximum(first, np.uint64(low // PAGE))
        b = np.minimum(end, np.uint64(high // PAGE))
        keep = a < b
        a, b = a[keep], b[keep]
        blocks = buddy_blocks(a, b)
        sizes = (b - a).astype(np.int64)
        unusable, fragmentation = indices(blocks)
        out[name] = ZoneSample(int(sizes.sum()), len(sizes), int(sizes.max()) if len(sizes) else 0,
                               blocks, unusable.tolist(), fragmentation.tolist())
    return out


def hole_metrics(free_set):
    """(free pages, free ranges, largest hole in pages) of a FreeSet."""
    if not free_set.starts:
        return 0, 0, 0
    sizes = (np.asarray(free_set.ends, dtype=np.uint64) -
             np.asarray(free_set.starts, dtype=np.uint64)) // np.uint64(PAGE)
    return int(sizes.sum()), len(sizes), int(sizes.max())


@dataclass
class Sample:
    position: int  # record index the sample follows
    seq: int
    timestamp: int
    phase: str
    zones: dict  # zone name -> ZoneSample
    virtual: dict  # (context, region) -> (free pages, free ranges, largest hole)


@dataclass
class FragSeries:
    samples: list = field(default_factory=list)
    events_replayed: int = 0
    phase_ends: list = field(default_factory=list)  # (position, phase name, pmm free runs)
    final_virtual: dict = field(default_factory=dict)  # (context, region) -> free runs at the end


def replay_series(trace, samples_wanted=SAMPLES_WANTED):
    """Replays a BulkTrace and samples the metrics after every pmm snapshot and at evenly spaced
    points in between. A replay step that does not fit the state, or a snapshot that differs from
    the replay, raises TraceError at that record. The replay runs in bulk (frag_bulk) and falls
    back to stepping event by event when the bulk one cannot vouch for the trace, so errors are
    found and worded by one replay."""
    from . import frag_bulk
    series = frag_bulk.replay(trace, samples_wanted)
    return series if series is not None else replay_series_stepwise(trace, samples_wanted)


def replay_series_stepwise(trace, samples_wanted=SAMPLES_WANTED):
    """replay_series one event at a time, with analyzer/replay.py's FreeSet."""
    streams = {}
    for name in ("pmm_alloc", "pmm_free", "vmm_reserve", "vmm_release", "context_destroy"):
        a = trace.of(name)
        streams[name] = a
    kinds, positions, rows = [], [], []
    for code, name in enumerate(streams):
        a = streams[name]
        kinds.append(np.full(len(a), code, dtype=np.int8))
        positions.append(a["position"])
        rows.append(np.arange(len(a)))
    kind = np.concatenate(kinds)
    position = np.concatenate(positions)
    row = np.concatenate(rows)
    order = np.argsort(position, kind="stable")
    kind, position, row = kind[order].tolist(), position[order].tolist(), row[order].tolist()

    snapshots = [e for e in trace.others if e.name in ("pmm_snapshot", "vmm_snapshot",
                                                       "phase_begin", "phase_end")]
    every = max(1, len(kind) // samples_wanted)
    series = FragSeries()
    physical = None
    zones = None  # the pmm's, from its first snapshot: every later one must state the same
    virtual = {}
    phase = []
    names = list(streams)
    cols = {n: _columns(streams[n]) for n in names}
    seqs = trace.headers["seq"]
    timestamps = trace.headers["timestamp"]

    def fail(pos, text):
        raise TraceError(f"replay: {text}", int(trace.offsets[pos]))

    def sample(pos):
        if physical is None:
            return
        metrics = zone_metrics(physical.starts, physical.ends, zones)
        holes = {key: hole_metrics(s) for key, s in virtual.items()}
        series.samples.append(Sample(pos, int(seqs[pos]), int(timestamps[pos]),
                                     phase[-1] if phase else "", metrics, holes))

    snap_index = 0
    since_sample = 0
    for i in range(len(kind) + 1):
        pos = position[i] if i < len(kind) else len(seqs)
        while snap_index < len(snapshots) and snapshots[snap_index].position < pos:
            e = snapshots[snap_index]
            snap_index += 1
            if e.name == "phase_begin":
                phase.append(e.text)
            elif e.name == "phase_end":
                if physical is not None:
                    series.phase_ends.append((e.position, e.text, physical.runs()))
                if phase and phase[-1] == e.text:
                    phase.pop()
            elif e.name == "pmm_snapshot":
                stated = zone_ranges(e)
                bad = bad_zone_ranges(stated)
                if bad:
                    fail(e.position, bad)
                if zones is not None and stated != zones:
                    fail(e.position, f"the pmm snapshot's zones {zone_text(stated)} differ from "
                         f"the first snapshot's {zone_text(zones)}")
                zones = stated
                snap = FreeSet((a, a + p * PAGE) for a, p in
                               zip(e.items["addr"].tolist(), e.items["pages"].tolist()))
                if physical is not None and physical.runs() != snap.runs():
                    fail(e.position, "the pmm snapshot differs from the replay of the events "
                         "before it")
                physical = snap
                sample(e.position)
            else:
                key = (e.context, e.region)
                snap = FreeSet((a, a + p * PAGE) for a, p in
                               zip(e.items["addr"].tolist(), e.items["pages"].tolist()))
                if key in virtual and virtual[key].runs() != snap.runs():
                    fail(e.position, f"the vmm snapshot of context {e.context} region "
                         f"{e.region} differs from the replay of the events before it")
                virtual[key] = snap
        if i == len(kind):
            break
        name, r = names[kind[i]], row[i]
        c = cols[name]
        if name == "pmm_alloc" or name == "pmm_free":
            if physical is None:
                continue
            start = c["addr"][r]
            end = start + c["held"][r] * PAGE  # the run the allocator holds, rounding included
            error = physical.remove(start, end) if name == "pmm_alloc" else physical.add(start, end)
        elif name == "context_destroy":
            for key in [k for k in virtual if k[0] == c["context"][r]]:
                del virtual[key]
            continue
        else:
            state = virtual.get((c["context"][r], c["region"][r]))
            if state is None:
                continue
            start = c["addr"][r]
            end = start + c["pages"][r] * PAGE
            error = state.remove(start, end) if name == "vmm_reserve" else state.add(start, end)
        if error:
            fail(pos, f"{name}: {error}")
        series.events_replayed += 1
        since_sample += 1
        if since_sample >= every:
            since_sample = 0
            sample(pos)
    series.final_virtual = {key: free.runs() for key, free in virtual.items()}
    return series


def region_name(context, region):
    """A region's name from events.def (context 0 is the kernel's; others are user contexts)."""
    names = FORMAT.values["kernel_region" if context == 0 else "user_region"]
    return names.get(region, f"region{region}")


def _columns(array):
    return {name: array[name].tolist() for name in array.dtype.names
            if name not in ("timestamp",)}


CSV_FIXED = ["sample", "seq", "time_ns", "phase", "scope", "free_pages", "free_extents",
             "largest_free_pages"]


def csv_header():
    return (CSV_FIXED + [f"blocks_o{o}" for o in ORDERS] + [f"unusable_o{o}" for o in ORDERS] +
            [f"fragindex_o{o}" for o in ORDERS])


def write_csv(series, trace, out):
    """One row per sample and scope: a physical zone ("phys:dma32") or a virtual region of a
    context ("virt:ctx0:kernel-heap"); the buddy and index columns are empty for virtual rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_header())
    times = trace.time_ns([s.timestamp for s in series.samples])
    blank = [""] * (3 * len(ORDERS))
    for n, (s, t) in enumerate(zip(series.samples, times)):
        lead = [n, s.seq, f"{t:.0f}", s.phase]
        for zone, z in s.zones.items():
            writer.writerow(lead + [f"phys:{zone}", z.free_pages, z.extents, z.largest] +
                            z.blocks.tolist() + [f"{v:.4f}" for v in z.unusable] +
                            [f"{v:.4f}" for v in z.fragmentation])
        for (context, region), (pages, ranges, largest) in sorted(s.virtual.items()):
            writer.writerow(lead + [f"virt:ctx{context}:{region_name(context, region)}", pages,
                                    ranges, largest] +
                            blank)
