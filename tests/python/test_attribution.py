"""Who allocated it, and the Linux-shaped views: call sites are the scenarios' own functions on
real kernel traces; buddyinfo and extfrag print what Linux would for a hand-computed state."""

import subprocess
import sys

import pytest

from analyzer.metrics import attribution
from analyzer.reading.bulk import BulkTrace
from analyzer.definitions.events import FORMAT

from conftest import REPO

DMA_OWNER = FORMAT.value_numbers["MM_OWNER_DMA"]


def analyzer(*args):
    return subprocess.run([sys.executable, "-m", "analyzer", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def scenario_traces(kernel_trace, tmp_path_factory):
    """{scenario: path} of real boots of the dma and kheap scenarios (512 MiB, icount)."""
    work = tmp_path_factory.mktemp("attribution")
    out = {}
    for scenario in ("dma", "kheap"):
        out[scenario] = work / f"{scenario}.pstrace"
        out[scenario].write_bytes(kernel_trace(f"trace=on scenario={scenario}"))
    return out


def sites_of(path, event):
    trace = BulkTrace.open(path)
    a = attribution.symbolize(attribution.collect(trace), trace)
    assert a.unmatched == 0
    return trace, a, [a.site_frame(c) for c in a.chain_of[event].tolist()]


def test_every_dma_buffer_is_attributed_to_the_dma_scenario(scenario_traces):
    """scenario_dma.c takes every dma-owner run through its own take(): each such pmm_alloc's
    call site is there, never inside the allocator."""
    trace, _, sites = sites_of(scenario_traces["dma"], "pmm_alloc")
    owners = trace.of("pmm_alloc")["owner"].tolist()
    dma_sites = [s for s, o in zip(sites, owners) if o == DMA_OWNER]
    assert dma_sites and all(s is not None for s in sites)  # every allocation has a chain
    # take() may be inlined into its callers: it is the innermost function either way
    assert {(s.function.split(" in ")[0], s.location.split(":")[0]) for s in dma_sites} == \
        {("take", "kernel/workload/scenario_dma.c")}


def test_every_kheap_kmalloc_is_attributed_to_the_kheap_scenario(scenario_traces):
    _, a, sites = sites_of(scenario_traces["kheap"], "kmalloc")
    assert sites and {s.location.split(":")[0] for s in sites} == \
        {"kernel/workload/scenario_kheap.c"}
    # the chain runs from the kernel's entry down to the allocator
    stack = a.stack(a.chain_of["kmalloc"][0])
    assert stack[0] == "kernel_entry64" and "scenario_kheap" in stack


def test_owners_at_the_peak_names_the_scenario(scenario_traces):
    result = analyzer("owners", scenario_traces["dma"])
    assert result.returncode == 0, result.stderr
    pmm = result.stdout.split("physical pages (pmm_alloc), per call site", 1)[1]
    first_site = pmm.splitlines()[2]
    assert " take " in first_site and "(kernel/workload/scenario_dma.c:" in first_site, pmm[:500]
    assert "peak use" in result.stdout.splitlines()[0]


def test_leaks_lists_what_the_kheap_scenario_left(scenario_traces):
    """kheap drains everything it allocated: no kmalloc allocation of its own is left."""
    result = analyzer("leaks", scenario_traces["kheap"])
    assert result.returncode == 0, result.stderr
    kmalloc = result.stdout.split("kmalloc, per call site:", 1)[1].split("\n\n", 1)[0]
    assert "scenario_kheap.c" not in kmalloc


def test_kmem_totals_equal_the_events(scenario_traces):
    trace = BulkTrace.open(scenario_traces["kheap"])
    result = analyzer("kmem", scenario_traces["kheap"])
    assert result.returncode == 0, result.stderr
    k = trace.of("kmalloc")
    assert f"Total bytes requested: {int(k['requested'].astype('int64').sum()):,}" in result.stdout
    assert f"Total bytes allocated: {int(k['given'].astype('int64').sum()):,}" in result.stdout
    assert "steps (kernel/workload/scenario_kheap.c:" in result.stdout


def test_the_heap_profile_holds_the_dma_buffers_under_take_at_the_peak(scenario_traces):
    """The Perfetto heap profile decodes against Perfetto's own schema, and at its peak dump the
    unreleased physical memory is the bytes a plain walk of pmm_alloc/pmm_free finds held there
    (every run's `held` pages), with every dma buffer under the dma scenario's take()."""
    from analyzer.export import heap_profile
    from analyzer.metrics import mmstat, state
    from test_perfetto import protoc_decode
    trace = BulkTrace.open(scenario_traces["dma"])
    found = attribution.symbolize(attribution.collect(trace), trace)
    position, when = mmstat.resolve(trace, state.replay(trace), ("peak", None))
    data = heap_profile.to_heap_profile(trace, found, [(position, when)])
    assert "profile_packet {" in protoc_decode(data)
    held, owner_of = {}, {}
    page = FORMAT.constants["TRACE_PAGE_BYTES"]
    events = [(int(p), True, int(a), int(h), int(o)) for p, a, h, o in zip(
        *(trace.of("pmm_alloc")[f] for f in ("position", "addr", "held", "owner")))]
    events += [(int(p), False, int(a), 0, 0) for p, a in zip(
        *(trace.of("pmm_free")[f] for f in ("position", "addr")))]
    for at, is_alloc, addr, pages, owner in sorted(events):  # stream order: positions differ
        if at >= position:
            break
        if is_alloc:
            held[addr] = pages * page
            owner_of[addr] = owner
        else:
            held.pop(addr, None)
    (dump, heap), = [k for k in heap_profile.unreleased(data) if k[1] == "physical pages"]
    stacks = heap_profile.unreleased(data)[(dump, heap)]
    assert sum(stacks.values()) == sum(held.values())
    under_take = sum(b for stack, b in stacks.items() if any(f.startswith("take") for f in stack))
    # every dma buffer is under take() (which also takes some pages of other owners)
    dma_bytes = sum(b for addr, b in held.items() if owner_of[addr] == DMA_OWNER)
    assert 0 < dma_bytes <= under_take
    assert all(stack[-1] == "pmm_alloc" for stack in stacks)


# ---- buddyinfo and extfrag on a state computed by hand ------------------------------------------

@pytest.fixture(scope="module")
def seven_pages_trace(build_encoder, tmp_path_factory):
    """Free: pfns 1-7 only (zone dma ends at 16 MiB). Then pfns 4-7 are allocated."""
    work = tmp_path_factory.mktemp("seven")
    # a phase whose snapshots frame the allocation, so the trace passes `check`
    statements = ['trace_emit_phase_begin(t, "seven");',
                  "trace_emit_pmm_snapshot_begin(t, 7, 16ULL << 20, 4ULL << 30);",
                  "trace_emit_pmm_snapshot_add(t, 0x1000, 7);",
                  "trace_array_end(t, TRACE_ID_pmm_snapshot);",
                  "trace_emit_pmm_alloc(t, 0x4000, 4, 4, 0, 0, 4, 0, 0);",
                  "trace_emit_pmm_snapshot_begin(t, 3, 16ULL << 20, 4ULL << 30);",
                  "trace_emit_pmm_snapshot_add(t, 0x1000, 3);",
                  "trace_array_end(t, TRACE_ID_pmm_snapshot);",
                  'trace_emit_phase_end(t, "seven");']
    calls = work / "calls.inc"
    calls.write_text("\n".join(statements) + "\n")
    config = ("#define FAKE_CLOCK_START 0\n#define FAKE_CLOCK_STEP 1000\n"
              "#define HEADER_INFO { .clock = 1, .clock_hz = 1000000000ULL, .memory_bytes = 1 << 29,"
              " .cmdline = \"seven\", .build_id = \"seven\" }\n"
              f"#define EVENT_CALLS \"{calls}\"\n")
    out = work / "seven.pstrace"
    subprocess.run([str(build_encoder(config, "seven-encoder")), str(out)], check=True)
    return out


def before_the_alloc(path):
    """--at value: 1 ns before the pmm_alloc record."""
    trace = BulkTrace.open(path)
    position = int(trace.of("pmm_alloc")["position"][0])
    return f"{float(trace.time_ns(trace.headers['timestamp'][position])) - 1:.0f}"


def test_buddyinfo_prints_the_hand_computed_blocks(seven_pages_trace):
    """Pfns 1-7 are blocks of order 0 (pfn 1), 1 (2-3) and 2 (4-7); after 4-7 go, 0 and 1."""
    before = analyzer("buddyinfo", seven_pages_trace, "--at", before_the_alloc(seven_pages_trace))
    assert before.returncode == 0, before.stderr
    zeros = "     0 " * 8
    assert before.stdout.splitlines()[0] == \
        "Node 0, zone      dma      1      1      1 " + zeros
    end = analyzer("buddyinfo", seven_pages_trace)
    assert end.stdout.splitlines()[0] == "Node 0, zone      dma      1      1      0 " + zeros


def test_extfrag_prints_the_hand_computed_indices(seven_pages_trace):
    """7 free pages in 3 blocks (orders 0, 1, 2). Unusable (x1000, truncated): order 1
    (7 - 3*2)/7 = 142, order 2 (7 - 1*4)/7 = 428, order 3 and up 1000. Fragmentation index for
    orders with no suitable block: 1000 - (1000 + 7000 / 2^o) / 3: 375, 521, 594, 631, 649, 658,
    663, 665 for orders 3 to 10; -1.000 where the request would succeed."""
    result = analyzer("extfrag", seven_pages_trace, "--at", before_the_alloc(seven_pages_trace))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "# /sys/kernel/debug/extfrag/unusable_index"
    assert lines[1] == "Node 0, zone      dma 0.000 0.142 0.428 " + "1.000 " * 8
    assert lines[2] == "# /sys/kernel/debug/extfrag/extfrag_index"
    assert lines[3] == ("Node 0, zone      dma -1.000 -1.000 -1.000 0.375 0.521 0.594 0.631 "
                        "0.649 0.658 0.663 0.665 ")
    assert len(lines) == 4  # zones with no free page are not listed


def test_a_moment_after_the_trace_is_a_usage_error(seven_pages_trace):
    result = analyzer("buddyinfo", seven_pages_trace, "--at", "10s")
    assert result.returncode == 2 and "the trace ends at" in result.stderr


def test_version_names_the_format():
    result = analyzer("--version")
    assert result.returncode == 0
    assert f"trace format version {FORMAT.constants['TRACE_FORMAT_VERSION']}" in result.stdout


# ---- interned call chains ------------------------------------------------------------------------

def test_call_chains_are_interned_defined_once_each_before_their_first_use(scenario_traces):
    """The kernel writes a chain once (call_chain, ids 1, 2, 3, ...) and every later allocation
    names it by id: far fewer call_chain records than allocations, each id defined once, and
    every allocation's id defined before it."""
    trace = BulkTrace.open(scenario_traces["kheap"])
    defined = trace.of("call_chain")
    ids = defined["chain"].tolist()
    assert ids == list(range(1, len(ids) + 1))
    positions = dict(zip(ids, defined["position"].tolist()))
    uses = 0
    for name in attribution.ATTRIBUTED:
        rows = trace.of(name)
        for chain, position in zip(rows["chain"].tolist(), rows["position"].tolist()):
            assert chain in positions and positions[chain] < position, (name, chain, position)
            uses += 1
    assert 0 < len(ids) * 4 < uses, (len(ids), uses)


def test_stacks_start_at_the_allocating_function_not_inside_the_tracepoint(scenario_traces):
    """A chain's first address is in the function holding the tracepoint, where addr2line -i
    names the tracepoint's inlined helpers (kernel/trace, trace/) first: no stack a flame graph
    or heap profile draws shows them, and the innermost frame left is allocator code."""
    _, a, _ = sites_of(scenario_traces["kheap"], "kmalloc")
    tracing = ("kernel/trace/", "trace/")
    chains = sorted({int(c) for ids in a.chain_of.values() for c in ids.tolist() if c >= 0})
    helpers = {(f.label(), f.address) for c in chains for f in a.expanded(c)
               if f.location.startswith(tracing)}
    assert helpers  # the chains do start inside the tracepoint: there is something to leave out
    for c in chains:
        frames = a.stack_frames(c)
        assert not set(frames) & helpers, (c, frames)
        innermost = next(f for f in a.expanded(c) if not f.location.startswith(tracing))
        assert frames[-1] == (innermost.label(), innermost.address)
        assert innermost.location.startswith("kernel/mm/"), innermost
