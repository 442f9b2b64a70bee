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

This module holds the definitions (the block decomposition, the two indices, the CSV); the free
memory they are computed over is the state of the one replay `check` does (analyzer/metrics/state.py),
followed change by change by analyzer/metrics/timeline.py.
"""

import csv
import io

import numpy as np

from ..definitions.events import FORMAT
from .gc_paused import gc_paused

MAX_ORDER = 10
ORDERS = np.arange(MAX_ORDER + 1)


# The orders of the set bits of every number below 2^MAX_ORDER: a run that ends on (or starts at)
# a 2^MAX_ORDER-aligned page is one block per set bit of its length below that alignment.
_BITS = [tuple(k for k in range(MAX_ORDER) if x >> k & 1) for x in range(1 << MAX_ORDER)]


def block_split(first, end):
    """(orders rising, orders falling, blocks of order MAX_ORDER) of the buddy blocks of the free
    pages [first, end), first < end: at each page the largest aligned block that fits. The run
    splits at `mid`, the most aligned page in it: before mid the block sizes rise (one block per
    set bit of mid - first), from mid they fall (one per set bit of end - mid), orders above
    MAX_ORDER counted as that many MAX_ORDER blocks. Constant time: this runs after every pmm
    change of a trace (timeline.py)."""
    high = (first ^ end).bit_length() - 1  # the highest page bit where first and end differ
    if high >= MAX_ORDER:
        mid = -(-first >> MAX_ORDER) << MAX_ORDER  # first rounded up to a MAX_ORDER block
        tail = end - mid
        return _BITS[mid - first], _BITS[tail & ((1 << MAX_ORDER) - 1)], tail >> MAX_ORDER
    mid = end >> high << high
    return _BITS[mid - first], _BITS[end - mid], 0


def block_counts(first, end):
    """Buddy blocks per order (a list of MAX_ORDER + 1) of the free pages [first, end): at each
    page the largest aligned block that fits, orders above MAX_ORDER counted as that many
    MAX_ORDER blocks. For example pfns 1-7 are blocks of order 0 (pfn 1), 1 (pfns 2-3) and
    2 (pfns 4-7)."""
    counts = [0] * (MAX_ORDER + 1)
    if first < end:
        rising, falling, top = block_split(first, end)
        for order in rising:
            counts[order] += 1
        for order in falling:
            counts[order] += 1
        counts[MAX_ORDER] += top
    return counts


# SUITABLE[s, o] = 2^(o - s) for o >= s: blocks of order o hold that many order-s requests
SUITABLE = np.triu(2.0 ** (ORDERS[None, :] - ORDERS[:, None]))


def indices(blocks):
    """(unusable free space index, fragmentation index) from free block counts per order (the
    formulas in this module's docstring): for blocks of shape (rows, orders), two arrays of that
    shape; for one row (orders,), two arrays over the orders."""
    blocks = np.asarray(blocks, dtype=np.float64)
    if blocks.ndim == 1:
        unusable, fragmentation = indices(blocks[None, :])
        return unusable[0], fragmentation[0]
    free = (blocks * 2.0 ** ORDERS).sum(axis=1)[:, None]
    total = blocks.sum(axis=1)[:, None]
    suitable = blocks @ SUITABLE.T  # suitable[r, s] = sum_o blocks[r, o] * SUITABLE[s, o]
    with np.errstate(invalid="ignore", divide="ignore"):
        unusable = (free - suitable * 2.0 ** ORDERS) / free
        fragmentation = 1.0 - (1.0 + free / 2.0 ** ORDERS) / total
    unusable = np.where(free == 0, 1.0, unusable)
    fragmentation = np.where(suitable > 0, -1.0, np.where(total == 0, 0.0, fragmentation))
    return unusable, fragmentation


def unusable_index(blocks, order):
    return float(indices(blocks)[0][order])


def fragmentation_index(blocks, order):
    return float(indices(blocks)[1][order])


def region_name(context, region):
    """A region's name from events.def (context 0 is the kernel's; others are user contexts)."""
    names = FORMAT.values["kernel_region" if context == 0 else "user_region"]
    return names.get(region, f"region{region}")


CSV_FIXED = ["change", "seq", "time_ns", "phase", "scope", "free_pages", "free_extents",
             "largest_free_pages"]


def csv_header():
    return (CSV_FIXED + [f"blocks_o{o}" for o in ORDERS] + [f"unusable_o{o}" for o in ORDERS] +
            [f"fragindex_o{o}" for o in ORDERS])


def write_csv(series, trace, out):
    """One row per change of a scope, never a sample: a physical zone ("phys:dma32") after every
    pmm event that changed its figures, or a virtual region of a context
    ("virt:ctx0:kernel-heap") after every reservation and release in it; the buddy and index
    columns are empty for virtual rows. Rows are in stream order (the trace's seq); a scope's
    first row is its state at its first snapshot. Needs series.timeline (state.replay)."""
    with gc_paused():  # a row list per change, no garbage cycles: see gc_paused.py
        return _write_csv(series, trace, out)


def _write_csv(series, trace, out):
    """The rows as text: each row's figures are formatted by one `%` of a format made per scope
    (the csv module formats them one field at a time, most of the CSV's cost at a million rows);
    the text fields (scope, phase) are quoted by the csv module itself, once per distinct text,
    so every byte is what csv.writer would write."""
    line = series.timeline
    quote = _csv_quoter()
    parts = []  # (positions, row texts after the phase column)
    figures = ",".join(["%d"] * (3 + len(ORDERS)) + ["%.4f"] * (2 * len(ORDERS)))
    for name, z in line.zones.items():
        unusable, fragmentation = z.unusable(), z.fragmentation()
        row = quote(f"phys:{name}") + "," + figures
        parts.append((z.positions, [row % (f, e, g, *b, *u, *fr) for f, e, g, b, u, fr in zip(
            z.free_pages.tolist(), z.extents.tolist(), z.largest.tolist(), z.blocks.tolist(),
            unusable.tolist(), fragmentation.tolist())]))
    blank = "," * (3 * len(ORDERS))
    for h in line.holes:
        row = quote(f"virt:ctx{h.context}:{region_name(h.context, h.region)}") + ",%d,%d,%d" + \
            blank
        parts.append((h.positions, [row % values for values in zip(
            h.free_pages.tolist(), h.ranges.tolist(), h.largest.tolist())]))
    positions = np.concatenate([p for p, _ in parts] + [np.zeros(0, np.int64)])
    rows = [r for _, rs in parts for r in rs]
    order = np.argsort(positions, kind="stable")
    positions = positions[order]
    seqs = trace.headers["seq"][positions].tolist()
    times = trace.time_ns(trace.headers["timestamp"][positions]).tolist()
    phases = [quote(phase) for phase in _phases_at(trace, positions.tolist())]
    out.write(",".join(quote(name) for name in csv_header()) + "\n")
    lines = []
    for n, (i, seq, t, phase) in enumerate(zip(order.tolist(), seqs, times, phases)):
        lines.append("%d,%d,%.0f,%s,%s\n" % (n, seq, t, phase, rows[i]))
        if len(lines) == CSV_LINES_PER_WRITE:
            out.write("".join(lines))
            lines.clear()
    out.write("".join(lines))
    return len(rows)


# Lines joined into one write: few writes, and a bounded string (about 200 bytes a line).
CSV_LINES_PER_WRITE = 8192


def _csv_quoter():
    """text -> the text as csv.writer writes it as one field of several (quoted when it holds a
    comma, a quote or a line break), memoized: a CSV has a few distinct scopes and phases."""
    quoted = {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def quote(text):
        field = quoted.get(text)
        if field is None:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([text, ""])  # a field alone would be written "" when empty
            field = quoted[text] = buffer.getvalue()[:-2]
        return field
    return quote


def _phases_at(trace, positions):
    """The innermost open phase at each record position (positions sorted)."""
    events = trace.others_named("phase_begin", "phase_end")
    labels, stack, i = [], [], 0
    for position in positions:
        while i < len(events) and events[i].position <= position:
            e = events[i]
            if e.name == "phase_begin":
                stack.append(e.text)
            elif stack and stack[-1] == e.text:
                stack.pop()
            i += 1
        labels.append(stack[-1] if stack else "")
    return labels
