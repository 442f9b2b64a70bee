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
from ..definitions.text_columns import (blank_where, decimal_cell, fixed_cell, join_rows,
                                       text_cell)

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
    """The rows as text, formatted a block of rows at a time with numpy (text_columns.py: the
    same bytes Python's str() and '%.4f' give); the text fields (scope, phase) are quoted by the
    csv module itself, once per distinct text, so every byte is what csv.writer would write."""
    line = series.timeline
    quote = _csv_quoter()
    scopes, parts = [], []  # parts: (positions, free, count, largest, buddy columns or None)
    for name, z in line.zones.items():
        scopes.append(quote(f"phys:{name}"))
        parts.append((z.positions, z.free_pages, z.extents, z.largest,
                      (z.blocks,) + indices(z.blocks)))
    for h in line.holes:
        scopes.append(quote(f"virt:ctx{h.context}:{region_name(h.context, h.region)}"))
        parts.append((h.positions, h.free_pages, h.ranges, h.largest, None))
    rows = sum(len(p[0]) for p in parts)
    orders = len(ORDERS)
    positions = np.concatenate([p[0] for p in parts] + [np.zeros(0, np.int64)])
    scope = np.repeat(np.arange(len(parts), dtype=np.int64), [len(p[0]) for p in parts])
    figures = np.zeros((rows, 3), dtype=np.int64)
    buddy = np.zeros((rows, orders), dtype=np.int64)
    index_values = np.zeros((rows, 2 * orders), dtype=np.float64)
    physical = np.zeros(rows, dtype=bool)
    first = 0
    for p in parts:
        count = len(p[0])
        figures[first:first + count] = np.stack(p[1:4], axis=1)
        if p[4] is not None:
            blocks, unusable, fragmentation = p[4]
            buddy[first:first + count] = blocks
            index_values[first:first + count] = np.concatenate([unusable, fragmentation], axis=1)
            physical[first:first + count] = True
        first += count
    order = np.argsort(positions, kind="stable")
    positions = positions[order]
    seqs = trace.seqs()[positions]
    times = trace.time_ns(trace.headers["timestamp"][positions])
    phase_labels, phase_codes = _phases_at(trace, positions)
    phase_texts = [quote(label) for label in phase_labels]
    out.write(",".join(quote(name) for name in csv_header()) + "\n")
    for begin in range(0, rows, CSV_ROWS_PER_BLOCK):
        rows_here = order[begin:begin + CSV_ROWS_PER_BLOCK]
        here = slice(begin, begin + len(rows_here))
        virtual = ~physical[rows_here]
        cells = [decimal_cell(np.arange(here.start, here.stop)), decimal_cell(seqs[here]),
                 fixed_cell(times[here], 0), text_cell(phase_texts, phase_codes[here]),
                 text_cell(scopes, scope[rows_here])]
        cells += [decimal_cell(figures[rows_here, i]) for i in range(3)]
        cells += [blank_where(decimal_cell(buddy[rows_here, o]), virtual) for o in range(orders)]
        cells += [blank_where(fixed_cell(index_values[rows_here, i], 4), virtual)
                  for i in range(2 * orders)]
        out.write(join_rows(cells).decode("utf-8"))
    return rows


# Rows formatted together: a bounded working set (a few MiB of digit matrices) per block.
CSV_ROWS_PER_BLOCK = 65536


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
    """(labels, codes): the innermost open phase at each record position (sorted, int64) is
    labels[codes[i]]. The phase changes only at phase events: one label per stretch between
    them, and each position finds its stretch by binary search."""
    events = trace.others_named("phase_begin", "phase_end")
    stretch_labels, stack = [""], []  # stretch k: after the first k phase events
    for e in events:
        if e.name == "phase_begin":
            stack.append(e.text)
        elif stack and stack[-1] == e.text:
            stack.pop()
        stretch_labels.append(stack[-1] if stack else "")
    labels = list(dict.fromkeys(stretch_labels))
    code_of = np.array([labels.index(label) for label in stretch_labels], dtype=np.int64)
    event_positions = np.array([e.position for e in events], dtype=np.int64)
    return labels, code_of[np.searchsorted(event_positions, positions, side="right")]
