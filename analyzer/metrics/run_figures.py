"""The figures of a space's free runs after every step of a logged change sequence, in bulk.

The one replay (analyzer/checking/replay.py) changes its free sets one event at a time; its
Recorder (timeline.py) only logs each change. This module turns such a log into the figures of
every step at once with numpy, instead of a Python update per change:

  - a log is a sequence of steps; a step holds its changes in the order they were applied, each a
    run [first, end) of pages counted in (sign +1) or out (sign -1); a `reset` step starts the
    count afresh (a snapshot taken as the state: its runs are then its changes, all +1);
  - the steps of several spaces may share one log, one space after the other; every space's
    first step is a reset, so no figure leaks from one space into the next;
  - after each step: the free pages, the number of runs and the largest run (0 when none) of the
    runs counted since the step's reset, and, when asked, the buddy blocks per order of those
    runs (frag.block_counts, summed).

Invariant the log must keep (the replay's FreeSet does): a run is counted out only while a run
of its size is counted in since the last reset, so no count ever goes below zero.

Cost: O(C log C + S log S) for C changes and S steps, all in numpy: the running sums are prefix
sums; the largest run is the maximum over the intervals of steps in which some run of each size
is present, taken with a segment tree over the steps.
"""

import numpy as np

from .frag import MAX_ORDER


def running_figures(reset, step, first, end, sign, with_blocks):
    """(free pages, runs, largest run, blocks or None) after each step: int64 arrays of one entry
    per step ((steps, MAX_ORDER + 1) for the blocks). `reset` is a bool per step (the first must
    be set); `step`, `first`, `end`, `sign` are int64 per change, in application order (steps
    non-decreasing)."""
    steps = len(reset)
    resets = np.flatnonzero(reset)
    segment_of_step = np.cumsum(reset) - 1
    # changes applied up to the end of each step, and before the reset that opens its segment
    applied = np.searchsorted(step, np.arange(steps), side="right")
    before_segment = np.searchsorted(step, resets, side="left")[segment_of_step]

    def running(delta):
        total = np.zeros(len(delta) + 1, dtype=np.int64)
        np.cumsum(delta, out=total[1:])
        return total[applied] - total[before_segment]

    size = end - first
    free = running(sign * size)
    runs = running(sign)
    blocks = None
    if with_blocks:  # one order at a time: contiguous prefix sums
        per_order = block_counts_bulk(first, end, by_order=True) * sign
        blocks = np.stack([running(counts) for counts in per_order], axis=1)
    segment_end = np.append(resets[1:], steps)
    largest = _largest(segment_of_step[step], step, size, sign, segment_end, steps)
    return free, runs, largest, blocks


def block_counts_bulk(first, end, by_order=False):
    """(changes, MAX_ORDER + 1) buddy blocks per order of each run [first, end) of pages,
    first < end ((MAX_ORDER + 1, changes) when `by_order`): frag.block_split's decomposition (the
    run splits at its most aligned page `mid`: one block per set bit of mid - first, one per set
    bit of end - mid, whole MAX_ORDER blocks beyond), for every run at once. Pages must be below
    2^52 (any 64-bit address's page)."""
    first = np.asarray(first, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    # the highest bit where first and end differ (exact: both below 2^52 < 2^53)
    high = np.frexp((first ^ end).astype(np.float64))[1] - 1
    top_block = np.int64(1 << MAX_ORDER)
    wide = high >= MAX_ORDER
    shift = np.where(wide, 0, high)
    mid = np.where(wide, (first + top_block - 1) // top_block * top_block,
                   end >> shift << shift)
    rising, tail = mid - first, end - mid
    falling = tail & (top_block - 1)
    orders = np.arange(MAX_ORDER, dtype=np.int64)[:, None]
    bits = ((rising >> orders) & 1) + ((falling >> orders) & 1)
    counts = np.concatenate([bits, (tail >> MAX_ORDER)[None, :]], axis=0)
    return counts if by_order else counts.T


def _largest(segment, step, size, sign, segment_end, steps):
    """The largest run present after each step. A size is present from the change that makes its
    count (within a segment) 1 until the change that brings it back to 0, or the segment's end;
    the largest run after a step is the largest size present then."""
    order = np.lexsort((np.arange(len(size)), size, segment))
    segment, step, size, sign = segment[order], step[order], size[order], sign[order]
    group_start = np.ones(len(size), dtype=bool)
    group_start[1:] = (segment[1:] != segment[:-1]) | (size[1:] != size[:-1])
    group = np.cumsum(group_start) - 1
    count = np.cumsum(sign)
    count -= (count - sign)[group_start][group]  # the count of its size within its segment
    opens = (sign > 0) & (count == 1)
    closes = (sign < 0) & (count == 0)
    marks = np.flatnonzero(opens | closes)  # per group: open, close, open, close, ... (open)
    opening = np.flatnonzero(opens[marks])
    following = np.minimum(opening + 1, len(marks) - 1)
    closed = ((opening + 1 < len(marks)) & closes[marks[following]] &
              (group[marks[following]] == group[marks[opening]]))
    at = marks[opening]
    until = np.where(closed, step[marks[following]], segment_end[segment[at]])
    return _interval_max(step[at], until, size[at], steps)


def _interval_max(starts, ends, values, steps):
    """out[t] = the largest values[i] with starts[i] <= t < ends[i], 0 when none: each interval
    is marked on the O(log steps) nodes of a segment tree that cover it, then every node passes
    its mark down to the leaves."""
    leaves = 1 << max(1, (max(steps, 1) - 1).bit_length())
    tree = np.zeros(2 * leaves, dtype=np.int64)
    present = starts < ends
    low, high, values = starts[present] + leaves, ends[present] + leaves, values[present]
    while len(low):
        odd = (low & 1) == 1
        np.maximum.at(tree, low[odd], values[odd])
        low = low + odd
        odd = (high & 1) == 1
        high = high - odd
        np.maximum.at(tree, high[odd], values[odd])
        low, high = low >> 1, high >> 1
        left = low < high
        low, high, values = low[left], high[left], values[left]
    width = 1
    while width < leaves:
        children = tree[2 * width:4 * width]
        np.maximum(children, np.repeat(tree[width:2 * width], 2), out=children)
        width *= 2
    return tree[leaves:leaves + steps]


def changed_rows(columns, new_space):
    """True for each step whose figures (columns: arrays of one entry per step, or of one row per
    step) differ from the step before in the same space, and for each space's first step: the
    rows a timeline keeps."""
    keep = np.array(new_space, dtype=bool)
    if len(keep):
        keep[0] = True
    for column in columns:
        differs = column[1:] != column[:-1]
        if differs.ndim > 1:
            differs = differs.any(axis=1)
        keep[1:] |= differs
    return keep
