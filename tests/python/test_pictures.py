"""The report's pictures and counters tell the truth: a minimum that lasts one event is in the
timeline, the CSV, the Perfetto counter and the plot's envelope; the heat map puts a column at
its own request count; the physical map keeps every stage end and each peak; labels sort numbers
by value and write sizes in binary units; Perfetto shows our units, one identity per trace, and
groups each context's tracks."""

import csv
import subprocess
import sys

import numpy as np
import pytest

from analyzer.pictures import plots

from analyzer.metrics import state, timeline
from analyzer.reading.bulk import BulkTrace
from analyzer.export.perfetto import to_perfetto
from analyzer.definitions.units import format_bytes, natural_key

from conftest import REPO
import perfetto_view

FREE_PAGES = 4096  # one free extent [0, 16 MiB): all of it in zone dma (it ends at 16 MiB)
DIP_ROUND = 389    # the round in which page 2000 is taken and given back at once
# While page 2000 is taken, the free runs are [0, 2000) and [2001, 4095): the largest is 2094
# pages (page 4095 is taken too in that round); at every other moment it is 4095 or 4096.
DIP_LARGEST = 2094


@pytest.fixture(scope="module")
def dip_trace(build_encoder, tmp_path_factory):
    """2,002 pmm events: 1,000 rounds of taking and giving back page 4095, and in one round
    page 2000 taken and given back between them: a dip one event long, where a sampler taking
    every fifth event sees nothing."""
    work = tmp_path_factory.mktemp("dip")
    snapshot = [f"trace_emit_pmm_snapshot_begin(t, {FREE_PAGES}, 16ULL << 20, 4ULL << 30);",
                f"trace_emit_pmm_snapshot_add(t, 0, {FREE_PAGES});",
                "trace_array_end(t, TRACE_ID_pmm_snapshot);"]
    statements = ['trace_emit_phase_begin(t, "dip");', *snapshot]
    for i in range(1000):
        statements.append(f"trace_emit_pmm_alloc(t, {4095 * 4096}ULL, 1, 1, 0, 0, 4, 0, 0);")
        if i == DIP_ROUND:
            statements.append(f"trace_emit_pmm_alloc(t, {2000 * 4096}ULL, 1, 1, 0, 0, 4, 0, 0);")
            statements.append(f"trace_emit_pmm_free(t, {2000 * 4096}ULL, 1, 1, 0, 4, 0);")
        statements.append(f"trace_emit_pmm_free(t, {4095 * 4096}ULL, 1, 1, 0, 4, 0);")
    statements += [*snapshot, 'trace_emit_phase_end(t, "dip");']
    calls = work / "calls.inc"
    calls.write_text("\n".join(statements) + "\n")
    config = ("#define FAKE_CLOCK_START 0\n#define FAKE_CLOCK_STEP 1000\n"
              "#define HEADER_INFO { .clock = 1, .clock_hz = 1000000000ULL, .memory_bytes = 1 << 29,"
              " .cmdline = \"scenario=dip\", .build_id = \"dip\" }\n"
              f"#define EVENT_CALLS \"{calls}\"\n")
    out = work / "dip.pstrace"
    subprocess.run([str(build_encoder(config, "dip-encoder")), str(out)], check=True)
    return out


def test_timeline_holds_a_one_event_minimum(dip_trace):
    series = state.replay(BulkTrace.open(dip_trace))
    dma = series.timeline.zones["dma"]
    assert int(dma.largest.min()) == DIP_LARGEST
    assert int((dma.largest == DIP_LARGEST).sum()) == 1  # it held for exactly one event
    assert set(dma.largest.tolist()) == {DIP_LARGEST, 4095, 4096}


def test_frag_csv_has_a_row_at_the_minimum(dip_trace, tmp_path):
    out = tmp_path / "frag.csv"
    cli = subprocess.run([sys.executable, "-m", "analyzer", "frag", str(dip_trace), "-o",
                          str(out)], cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    rows = [r for r in csv.DictReader(out.open()) if r["scope"] == "phys:dma"]
    assert min(int(r["largest_free_pages"]) for r in rows) == DIP_LARGEST
    assert len(rows) == 1 + 2002  # the snapshot, then every pmm event changes the zone


def test_perfetto_counter_reaches_the_minimum(dip_trace):
    trace = BulkTrace.open(dip_trace)
    data = to_perfetto(trace, state.replay(trace))
    shown = {t.name: t for t in perfetto_view.tracks(data).values()}
    assert min(shown["largest free extent dma"].values) == DIP_LARGEST


def test_plot_envelope_draws_the_minimum(dip_trace):
    """The dip lies inside one pixel column among hundreds of events: the column's stroke still
    reaches it."""
    trace = BulkTrace.open(dip_trace)
    dma = state.replay(trace).timeline.zones["dma"]
    x = plots._progress_k(trace, dma.positions)
    _, low, high = timeline.envelope(x, dma.largest, 0.0, float(x[-1]), 100)
    assert np.nanmin(low) == DIP_LARGEST
    assert np.nanmax(high) == 4096
    # a plain line through the column centres (what a sampled plot draws) misses it
    centres = np.linspace(0, float(x[-1]), 100)
    at = np.searchsorted(x, centres, side="right") - 1
    assert dma.largest[at].min() > DIP_LARGEST


def test_envelope_carries_a_value_into_columns_without_a_change():
    centres, low, high = timeline.envelope([0, 10], [5, 7], 0, 20, 4)
    assert low.tolist() == [5, 5, 7, 7] and high.tolist() == [5, 5, 7, 7]


def test_heatmap_column_is_placed_by_its_request_count():
    """Rows at requests 0, 10, 11 and 12: the column spanning requests 5-6 shows the first
    row; a placement by rank (four rows spread evenly over 0-12) would show the second."""
    rows = np.array([[1], [2], [3], [4]])
    edges = np.arange(13.0)  # columns [0,1), [1,2), ... [11,12)
    columns = plots.heatmap_columns(np.array([0.0, 10, 11, 12]), rows, edges)
    assert columns[5].tolist() == [1]
    assert columns[10].tolist() == [3]  # [10, 11): in force at its right edge, 11


STAGES = 20  # more than the 14 rows the strip used to keep


@pytest.fixture(scope="module")
def stages_trace(build_encoder, tmp_path_factory):
    """A workload "w" of 20 stages "w:sN"; stage s takes s + 1 pages and gives them back before
    it ends, except that stage 7 also takes 100 more and gives them back mid-stage: the peak of
    use (108 pages) is in no stage end."""
    work = tmp_path_factory.mktemp("stages")
    snapshot = ["trace_emit_pmm_snapshot_begin(t, 4096, 16ULL << 20, 4ULL << 30);",
                "trace_emit_pmm_snapshot_add(t, 0, 4096);",
                "trace_array_end(t, TRACE_ID_pmm_snapshot);"]
    statements = ['trace_emit_phase_begin(t, "w");', *snapshot]
    for s in range(STAGES):
        statements.append(f'trace_emit_phase_begin(t, "w:s{s}");')
        statements.append(f"trace_emit_pmm_alloc(t, 0, {s + 1}, {s + 1}, 0, 0, 4, 0, 0);")
        if s == 7:
            statements.append("trace_emit_pmm_alloc(t, 1ULL << 20, 100, 100, 0, 0, 5, 0, 0);")
            statements.append("trace_emit_pmm_free(t, 1ULL << 20, 100, 100, 0, 5, 0);")
        statements.append(f"trace_emit_pmm_free(t, 0, {s + 1}, {s + 1}, 0, 4, 0);")
        statements.append(f'trace_emit_phase_end(t, "w:s{s}");')
    statements += [*snapshot, 'trace_emit_phase_end(t, "w");']
    calls = work / "calls.inc"
    calls.write_text("\n".join(statements) + "\n")
    config = ("#define FAKE_CLOCK_START 0\n#define FAKE_CLOCK_STEP 1000\n"
              "#define HEADER_INFO { .clock = 1, .clock_hz = 1000000000ULL, .memory_bytes = 1 << 29,"
              " .cmdline = \"scenario=w\", .build_id = \"stages\" }\n"
              f"#define EVENT_CALLS \"{calls}\"\n")
    out = work / "stages.pstrace"
    subprocess.run([str(build_encoder(config, "stages-encoder")), str(out)], check=True)
    return out


def test_memory_strip_keeps_every_stage_end_and_the_peak(stages_trace, tmp_path):
    trace = BulkTrace.open(stages_trace)
    series = state.replay(trace)
    moments = plots.strip_moments(trace, series)
    labels = [label for _, label in moments]
    assert [l for l in labels if l.startswith("w:s")] == [f"w:s{s}" for s in range(STAGES)]
    # the peak: right after the 100-page allocation of stage 7 (8 + 100 pages in use)
    peak_alloc = trace.of("pmm_alloc")[trace.of("pmm_alloc")["pages"] == 100]["position"][0]
    assert (int(peak_alloc) + 1, "w: peak use") in moments
    assert labels.index("w: peak use") == labels.index("w:s7") - 1  # between s6's and s7's ends
    assert plots.memory_strip([(trace, series)], tmp_path).name == "memory_strip"


def test_category_labels_sort_numbers_by_value():
    labels = ["reserve, 100,000 mapped", "reserve, 10,000 mapped", "reserve, 1,000,000 mapped",
              "reserve, 1,000 mapped"]
    assert sorted(labels, key=natural_key) == [
        "reserve, 1,000 mapped", "reserve, 10,000 mapped", "reserve, 100,000 mapped",
        "reserve, 1,000,000 mapped"]


def test_sizes_are_written_in_binary_units():
    assert format_bytes(4 << 40) == "4 TiB"
    assert format_bytes(4096) == "4 KiB"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(100) == "100 B"


def test_no_empty_plot_for_a_trace_without_its_data(small_trace, tmp_path):
    """The small synthetic trace has no fragment scenario, no reservation and no bookkeeping:
    those plots are left out instead of drawn as empty axes."""
    path = tmp_path / "small.pstrace"
    path.write_bytes(small_trace)
    trace = BulkTrace.open(path)
    drawn = {f.name for f in plots.draw_all([(trace, state.replay(trace))], tmp_path)}
    assert not drawn & {"fragment_result", "work", "bookkeeping_bytes", "virtual_holes"}
    assert "largest_free" in drawn


@pytest.fixture(scope="module")
def perfetto_of_kernel_traces(kernel_traces):
    out = {}
    for backend, path in kernel_traces.items():
        trace = BulkTrace.open(path)
        out[backend] = to_perfetto(trace, state.replay(trace))
    return out


def test_perfetto_shows_pages_as_pages(perfetto_of_kernel_traces):
    shown = perfetto_view.tracks(perfetto_of_kernel_traces["pagetable"]).values()
    pages = [t for t in shown if t.name.startswith(("free pages", "largest free extent"))]
    assert pages and all(t.unit == "pages" for t in pages), [(t.name, t.unit) for t in pages]
    assert all(t.unit == "UNIT_SIZE_BYTES" for t in shown if t.name.startswith("bookkeeping"))


def test_each_perfetto_trace_has_its_own_identity(perfetto_of_kernel_traces):
    a, b = perfetto_of_kernel_traces["pagetable"], perfetto_of_kernel_traces["list"]
    assert a[:4096] == b[:4096] or True  # they may begin alike; the identity must still differ
    assert perfetto_view.trace_identity(a)[0] == "uuid"
    assert perfetto_view.trace_identity(a) != perfetto_view.trace_identity(b)


def test_no_perfetto_counter_track_holds_one_sample_of_nothing(perfetto_of_kernel_traces):
    """A single sample is allowed only for a value that never changed and is worth showing:
    never a lone 0 (a context that never reported, the order-0 index that is 0 by definition)."""
    for data in perfetto_of_kernel_traces.values():
        counters = [t for t in perfetto_view.tracks(data).values() if t.unit is not None]
        assert counters
        assert [t.name for t in counters if len(t.values) == 0 or not any(t.values)] == []


def test_perfetto_groups_tracks_per_context(perfetto_of_kernel_traces):
    shown = perfetto_view.tracks(perfetto_of_kernel_traces["pagetable"])
    parents = {t.uuid: t for t in shown.values() if t.name.startswith("context ")}
    assert parents
    for t in shown.values():
        if t.name in ("vmm", "bookkeeping bytes", "mapped pages"):
            assert t.parent in parents, t.name
    process_children = [t for t in shown.values() if t.parent == 1]
    assert len(process_children) < 40  # contexts grouped, not hundreds of flat tracks


def test_report_of_an_unrelated_trace_has_no_verdict(small_trace, tmp_path):
    """A trace with neither backend's bookkeeping cannot judge page tables against the list: its
    report has contents and the exact command, and no verdict section."""
    path = tmp_path / "small.pstrace"
    path.write_bytes(small_trace)
    out = tmp_path / "report"
    cli = subprocess.run([sys.executable, "-m", "analyzer", "report", str(path), "-o", str(out)],
                         cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    page = (out / "index.html").read_text()
    assert "id='verdict'" not in page and ">Verdict<" not in page
    assert "<nav><b>Contents</b>" in page
    assert f"python3 -m analyzer report {path} -o {out}" in page
