"""Per-operation cost and request-size histograms (`analyzer kmem`, analyzer/latency.py) on a real
kernel trace (scenario=kheap under QEMU icount): every histogram printed holds exactly the events
of its kind (its bucket counts add up to the number the strict reader counts), each event lies in
the bucket its value belongs to, the costs are labelled guest instructions, and every cost is
plausible: above 0 for every operation after the pmm's boot claims (the first pmm_snapshot), and
below the instructions of the whole run (last timestamp - first, icount counting one per
instruction). The boot claims' cost 0 (events.def: not measured) is in no cost bucket: each
histogram says how many events it left out, and those are exactly the cost-0 events, all of them
pmm_alloc claims before the first pmm_snapshot; the report's operation_costs panels say the same."""

import re
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from analyzer.reading.reader import TraceReader

from conftest import REPO

COST_FIELD = "cost"
NOT_MEASURED = 0  # trace/events.def: a cost field of 0 was not measured (the pmm's boot claims)


@pytest.fixture(scope="module")
def kheap(kernel_trace, tmp_path_factory):
    path = tmp_path_factory.mktemp("latency") / "kheap.pstrace"
    path.write_bytes(kernel_trace("trace=on scenario=kheap"))
    return path


@pytest.fixture(scope="module")
def events(kheap):
    """[(name, event)] in stream order, read by the strict reader."""
    return [(type(e).__name__, e) for e in TraceReader.open(kheap).events()]


@pytest.fixture(scope="module")
def kmem_out(kheap):
    done = subprocess.run([sys.executable, "-m", "analyzer", "kmem", str(kheap)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def printed_histograms(text):
    """{(event, what): (unit, {(low, high): count}, events said not measured)} of the @EVENT_WHAT
    blocks printed."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"@(\w+)_(cost|size) \(([^)]+)\): ([\d,]+) events", line)
        if m:
            left_out = re.search(r"; ([\d,]+) more not measured", line)
            current = out.setdefault((m.group(1), m.group(2)), (
                m.group(3), {}, int(left_out.group(1).replace(",", "")) if left_out else 0))
            continue
        m = re.match(r"\s+\[([\d,]+)(?:, ([\d,]+)\))?\]?\s+([\d,]+) \|", line)
        if m and current is not None:
            low = int(m.group(1).replace(",", ""))
            high = int(m.group(2).replace(",", "")) if m.group(2) else low + 1
            current[1][(low, high)] = int(m.group(3).replace(",", ""))
        elif not line.strip():
            current = None
    return out


def test_every_cost_histogram_holds_exactly_the_events_of_its_kind(events, kmem_out):
    costs = defaultdict(list)
    for name, e in events:
        if hasattr(e, COST_FIELD):
            costs[name].append(e.cost)
    printed = printed_histograms(kmem_out)
    assert {"pmm_alloc", "pmm_free", "kmalloc", "kfree", "slab_alloc", "vmm_reserve"} <= set(costs)
    for name, values in costs.items():
        unit, buckets, left_out = printed[(name, "cost")]
        assert unit == "guest instructions", unit
        measured = [v for v in values if v != NOT_MEASURED]
        assert left_out == len(values) - len(measured), name
        assert sum(buckets.values()) == len(measured), name
        assert (0, 1) not in buckets, name  # a cost not measured is not drawn as 0
        expected = Counter(next(b for b in buckets if b[0] <= v < b[1]) for v in measured)
        assert {b: n for b, n in buckets.items() if n} == dict(expected), name


def test_the_costs_left_out_are_the_boot_claims(events, kmem_out):
    first_snapshot = next(i for i, (n, _) in enumerate(events) if n == "pmm_snapshot")
    unmeasured = [(i, n) for i, (n, e) in enumerate(events)
                  if getattr(e, COST_FIELD, None) == NOT_MEASURED]
    assert unmeasured, "no boot claim in the trace: nothing here is tested"
    assert all(n == "pmm_alloc" and i < first_snapshot for i, n in unmeasured), unmeasured[:5]
    assert printed_histograms(kmem_out)[("pmm_alloc", "cost")][2] == len(unmeasured)
    assert f"{len(unmeasured):,} more not measured" in kmem_out


def test_operation_costs_plot_counts_what_it_leaves_out(kheap, tmp_path, monkeypatch):
    from analyzer.pictures import plots
    from analyzer.reading.bulk import BulkTrace
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, out_dir, name: drawn.append(fig))
    assert plots.operation_costs([(BulkTrace.open(kheap), None)], tmp_path) is not None
    claims = sum(1 for e in TraceReader.open(kheap).events()
                 if type(e).__name__ == "pmm_alloc" and e.cost == NOT_MEASURED)
    panels = {ax.get_title().split(":")[0]: ax for ax in drawn[0].axes if ax.get_visible()}
    assert f"; {claims:,} not measured, left out" in panels["pmm_alloc"].get_title()
    # no bar at 0: the first tick of every panel is a bucket of measured costs
    for name, ax in panels.items():
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks and ticks[0] != "0", (name, ticks)


def test_size_histograms_count_the_requested_sizes(events, kmem_out):
    sizes = {"pmm_alloc": "pages", "kmalloc": "requested", "vmm_reserve": "pages"}
    printed = printed_histograms(kmem_out)
    for name, field in sizes.items():
        values = [getattr(e, field) for n, e in events if n == name]
        unit, buckets, _ = printed[(name, "size")]
        assert unit == ("bytes" if name == "kmalloc" else "pages")
        assert sum(buckets.values()) == len(values) > 0, name
        for (low, high), count in buckets.items():
            assert count == sum(1 for v in values if low <= v < high), (name, low, high)


def test_costs_are_plausible(events, kheap):
    header = TraceReader.open(kheap).header
    stamps = [e.timestamp for _, e in events]
    whole_run = max(stamps) - header.first_timestamp
    first_snapshot = next(i for i, (n, _) in enumerate(events) if n == "pmm_snapshot")
    checked = 0
    for i, (name, e) in enumerate(events):
        if not hasattr(e, COST_FIELD):
            continue
        assert e.cost < whole_run, (name, e)
        if i > first_snapshot:
            assert e.cost > 0, (name, e)
            checked += 1
    assert checked > 1000
