"""`check` holds every mapping's physical page against the pmm, including the many mappings that
are never unmapped (so no vmm_unmap ever restates their page): a page that no live allocation
holds, of another owner than its region's vmm_region states, or mapped twice, is refused."""

import collections
import contextlib
import io
import struct

import pytest

from analyzer.__main__ import main
from analyzer.definitions.events import FIELD_TYPES, FORMAT
from analyzer.reading.reader import TraceReader

PAGE = FORMAT.constants["TRACE_PAGE_BYTES"]
VMM_MAP = FORMAT.events_by_name["vmm_map"]
PHYS_AT = FORMAT.record_header.size + struct.calcsize(
    "<" + "Q" * VMM_MAP.fields.names.index("phys"))  # virt u64 comes first
assert VMM_MAP.fields.names[:2] == ("virt", "phys")


def check(tmp_path, data):
    path = tmp_path / "t.pstrace"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["check", str(path)])
    return status, err.getvalue()


def mappings_never_unmapped(data):
    """[(record offset, event)] of the vmm_maps whose page no later
    vmm_unmap or vmm_protect states again (they stay mapped, or go with their context), outside
    the kernel context's direct map."""
    reader = TraceReader(data)
    records = list(reader.records())
    live = {}
    for i, r in enumerate(records):  # (a context id reused later would need more care: none is)
        name = FORMAT.events_by_id[r.type].name
        e = r.event
        if name == "vmm_map":
            live[e.context, e.virt] = (r.offset, e)
        elif name in ("vmm_unmap", "vmm_protect"):
            live.pop((e.context, e.virt), None)
    direct_map = 0xffff840000000000
    return [v for v in live.values() if not (v[1].context == 0 and v[1].virt >= direct_map)]


def test_the_boot_keeps_mappings_to_the_end(kernel_traces):
    maps = mappings_never_unmapped(kernel_traces["list"].read_bytes())
    contexts = collections.Counter(e.context == 0 for _, e in maps)
    assert contexts[True] >= 3 and contexts[False] >= 3, contexts


@pytest.mark.parametrize("user", [True, False], ids=["user", "kernel"])
def test_a_changed_page_of_a_mapping_never_unmapped_is_refused(kernel_traces, tmp_path, user):
    original = kernel_traces["list"].read_bytes()
    status, err = check(tmp_path, original)
    assert status == 0, err
    maps = [m for m in mappings_never_unmapped(original) if (m[1].context != 0) == user]
    per_context = collections.Counter(e.context for _, e in maps)
    maps = [m for m in maps if per_context[m[1].context] >= 2]
    picked = [maps[0], maps[len(maps) // 2], maps[-1]]
    memory = TraceReader(original).header.memory_bytes
    refused = []
    for offset, e in picked:
        size = PAGE << 9 * e.page_size
        # a page another mapping of the same context holds while this one is mapped
        other = next(m for _, m in maps if m.context == e.context and m.phys != e.phys)
        for label, phys in (("beyond RAM", (memory + (1 << 30)) // size * size), ("zero", 0),
                            ("a page mapped elsewhere", other.phys)):
            data = bytearray(original)
            struct.pack_into("<Q", data, offset + PHYS_AT, phys)
            status, err = check(tmp_path, bytes(data))
            if status == 3 and f"maps {phys:#x}" in err:
                refused.append(label)
            else:
                pytest.fail(f"{label}: {e} with phys {phys:#x}: status {status}\n{err}")
    assert len(refused) == 9


def test_a_page_of_another_owner_is_refused(kernel_traces, tmp_path):
    """The pmm_alloc of a user mapping's page relabelled `heap`: the page is allocated, but not
    as its region's owner (user) says."""
    original = kernel_traces["list"].read_bytes()
    reader = TraceReader(original)
    # the mapping in the middle of the largest group of user pages that stay mapped in one
    # context and one region (regions lie in distinct 2^44-byte slots of the user half)
    groups = collections.defaultdict(list)
    for _, e in mappings_never_unmapped(original):
        if e.context != 0:
            groups[e.context, e.virt >> 44].append(e)
    largest = max(groups.values(), key=len)
    assert len(largest) >= 3
    mapping = largest[len(largest) // 2]
    records = list(reader.records())
    mapped_at = next(i for i, r in enumerate(records) if r.event == mapping)
    alloc = next(r for r in reversed(records[:mapped_at])
                 if FORMAT.events_by_id[r.type].name == "pmm_alloc"
                 and r.event.addr <= mapping.phys < r.event.addr + r.event.pages * PAGE)
    layout = FORMAT.events_by_name["pmm_alloc"].fields
    owner_at = alloc.offset + FORMAT.record_header.size + struct.calcsize(
        "<" + "".join(FIELD_TYPES[t] for t in layout.types[:layout.names.index("owner")]))
    data = bytearray(original)
    data[owner_at] = FORMAT.value_numbers["MM_OWNER_HEAP"]
    # its pmm_free (if any) must say the same owner, or the free is what gets refused
    status, err = check(tmp_path, bytes(data))
    assert status == 3 and f"maps {mapping.phys:#x}, a page of owner heap, in region" in err, err


def test_a_page_mapped_in_two_contexts_outside_shared_memory_is_refused(kernel_trace, tmp_path):
    """A user mapping repointed at a page another context maps at the time, in neither's
    shared-memory region: the owner (user) is right, the page is allocated, but it is mapped
    twice where nothing may share it (its vmm_unmap, if any, no longer matches either). The procs
    scenario's processes map pages side by side."""
    original = kernel_trace("trace=on scenario=procs")
    assert check(tmp_path, original)[0] == 0
    shared_memory = FORMAT.value_numbers["VMM_UREGION_SHM"]
    regions = {}  # context -> [(base, end, region)]
    live = {}  # (context, virt) -> phys of user mappings outside shared memory
    for r in TraceReader(original).records():
        name, e = FORMAT.events_by_id[r.type].name, r.event
        if name == "vmm_region":
            regions.setdefault(e.context, []).append((e.base, e.base + e.pages * PAGE, e.region))
        elif name == "context_destroy":
            live = {k: v for k, v in live.items() if k[0] != e.context}
        elif name == "vmm_unmap":
            live.pop((e.context, e.virt), None)
        elif name == "vmm_map" and e.context != 0 and not any(
                base <= e.virt < end and region == shared_memory
                for base, end, region in regions[e.context]):
            elsewhere = next((phys for (c, _), phys in live.items() if c != e.context), None)
            if elsewhere is not None:
                break
            live[e.context, e.virt] = e.phys
    else:
        pytest.fail("no mapping made while another context maps a page")
    data = bytearray(original)
    struct.pack_into("<Q", data, r.offset + PHYS_AT, elsewhere)
    status, err = check(tmp_path, bytes(data))
    assert status == 3 and f"maps {elsewhere:#x}, which is already mapped in 1 other place" in err, err
