"""Per-operation cost and request-size histograms of the allocator events, printed as bpftrace's
hist() and bcc's funclatency print them: power-of-two buckets, the exact count of events in each.

Cost: the `cost` field of every event that has one (trace/events.def: clock ticks from the
operation's entry to its event, the event's own tracing excluded, the operations it called
included; guest instructions under QEMU icount, TSC ticks otherwise, as the header's clock says:
processes.tick_unit). Size: what was asked for: pages of pmm_alloc and vmm_reserve, bytes of
kmalloc.

A cost of TRACE_COST_NOT_MEASURED (events.def: 0, an allocation that is not an operation of its
own, the pmm's boot claims, taken before any cost clock runs) is no cost at all: such events are
counted as not measured and left out of the cost histogram, never drawn as 0. A measured cost is
at least 1 (the clock advances from an operation's entry to its event).

Invariants: every event of an operation lies in exactly one bucket or, for a cost, among the not
measured, so an operation's counts and its not-measured count add up to its number of events;
bucket 0 holds the value 0 (only sizes have it) and bucket k >= 1 the values [2^(k-1), 2^k);
nothing is sampled. A cost is a u64 (events.def): none saturates.
"""

from dataclasses import dataclass

import numpy as np

from ..definitions.events import FORMAT
from .processes import nearest_rank, tick_unit, tick_unit_source

# Every event with a cost, in id order (events.def).
COST_EVENTS = tuple(e.name for _, e in sorted(FORMAT.events_by_id.items())
                    if "cost" in e.fields.names)
# The request size of an allocation: (field, unit).
SIZE_FIELDS = {"pmm_alloc": ("pages", "pages"), "kmalloc": ("requested", "bytes"),
               "vmm_reserve": ("pages", "pages")}
BAR_WIDTH = 40
NOT_MEASURED = FORMAT.constants["TRACE_COST_NOT_MEASURED"]


@dataclass
class Histogram:
    """One distribution: counts[k] events in bucket k (see the module's invariants)."""

    event: str
    what: str  # "cost" or "size"
    unit: str  # "guest instructions", "TSC ticks", "pages", "bytes"
    counts: list
    events: int  # the events in the buckets
    minimum: int
    median: int
    maximum: int
    not_measured: int = 0  # cost events whose cost was not measured: in no bucket

    def buckets(self):
        """[(low, high, count)] of the buckets from the lowest to the highest non-empty one:
        the values low .. high - 1 (0 .. 0 for bucket 0)."""
        used = [k for k, n in enumerate(self.counts) if n]
        if not used:
            return []
        return [(bucket_low(k), bucket_low(k + 1) if k else 1, self.counts[k])
                for k in range(used[0], used[-1] + 1)]


def bucket_of(values):
    """The bucket index of each value (an integer array): 0 for 0, k for [2^(k-1), 2^k)."""
    values = np.asarray(values, dtype=np.uint64)
    out = np.zeros(len(values), dtype=np.int64)
    positive = values > 0
    # float64 holds every value below 2^53 exactly, and log2 of one is exact at powers of two;
    # above, the rounding may reach the next power of two, which the shift test takes back
    v = values[positive]
    top = np.minimum(np.floor(np.log2(v.astype(np.float64))).astype(np.int64), 63)
    top -= (np.left_shift(np.uint64(1), top.astype(np.uint64)) > v).astype(np.int64)
    out[positive] = top + 1
    return out


def bucket_low(k):
    return 0 if k == 0 else 1 << (k - 1)


def histogram(event, what, unit, values):
    values = np.asarray(values, dtype=np.uint64)
    counts = np.bincount(bucket_of(values)).tolist() if len(values) else []
    ordered = sorted(values.tolist())
    return Histogram(event, what, unit, counts, len(ordered),
                     ordered[0] if ordered else 0,
                     nearest_rank(ordered, 50) if ordered else 0,
                     ordered[-1] if ordered else 0)


def cost_histograms(trace):
    """A cost Histogram of every event kind with a cost that occurs in the trace (a BulkTrace):
    the measured costs in its buckets, the events without one counted in not_measured."""
    unit = tick_unit(trace.header)
    out = []
    for name in COST_EVENTS:
        rows = trace.of(name)
        if len(rows):
            costs = np.asarray(rows["cost"])
            measured = costs != NOT_MEASURED
            h = histogram(name, "cost", unit, costs[measured])
            h.not_measured = int(len(costs) - measured.sum())
            out.append(h)
    return out


def size_histograms(trace):
    """A size Histogram of every allocation kind that occurs in the trace."""
    out = []
    for name, (field, unit) in SIZE_FIELDS.items():
        rows = trace.of(name)
        if len(rows):
            out.append(histogram(name, "size", unit, rows[field]))
    return out


def histogram_lines(h):
    """bpftrace's hist() layout: one line per bucket, its range, its exact count and a bar."""
    peak = max(h.counts) if h.counts else 0
    lines = [f"@{h.event}_{h.what} ({h.unit}): {h.events:,} events, min {h.minimum:,}, "
             f"median {h.median:,}, max {h.maximum:,}"
             + (f"; {h.not_measured:,} more not measured (boot claims, cost field "
                f"{NOT_MEASURED}): left out" if h.not_measured else "")]
    for low, high, count in h.buckets():
        label = "[0]" if high == 1 else f"[{low:,}, {high:,})"
        bar = "@" * (round(BAR_WIDTH * count / peak) if peak else 0)
        lines.append(f"{label:>28} {count:>10,} |{bar:<{BAR_WIDTH}}|")
    return lines


def latency_lines(trace):
    """The `analyzer kmem` section: every cost histogram, then every size histogram."""
    costs, sizes = cost_histograms(trace), size_histograms(trace)
    lines = ["", "COST PER OPERATION", "==================",
             f"Each event's cost field: {tick_unit(trace.header)} from the operation's entry to "
             "its event (its own tracing excluded; what it called included); "
             f"{tick_unit_source(trace.header)}. Every event counted, none sampled."]
    if not costs:
        lines.append("no event with a cost (a trace of format 7 or older, or a synthetic one)")
    for h in costs:
        lines += [""] + histogram_lines(h)
    lines += ["", "SIZE PER REQUEST", "================"]
    if not sizes:
        lines.append("no allocation in the trace")
    for h in sizes:
        lines += [""] + histogram_lines(h)
    return lines
