"""Who allocated it: the call chain of every allocation, symbolized, and what each call site holds.

Every pmm_alloc, kmalloc, slab_alloc and vmm_reserve record (TRACE_ATTRIBUTED_EVENT in
trace/events.def) carries `chain`, the id of its call chain, which a `call_chain` record before its
first use defines: the return addresses of the frames above the allocator's tracepoint, innermost
first (a frame-pointer walk; 0 where the chain ended). Here each allocation gets its chain, each address a name from
`build/pagescope.elf` (addr2line: function and file:line), and each allocation a *call site*:
the first frame outside the allocators themselves (kernel/mm, kernel/trace, kernel/lib), which is the code
that asked for the memory, as Linux's page_owner and bcc memleak report it.

Invariants:
  - a record's chain id must be defined by a call_chain before it; an id defined nowhere before
    (its call_chain was lost) is counted as unmatched, never guessed; id 0 (TRACE_CHAIN_NONE, the
    kernel lost the definition) is an allocation without a chain;
  - a chain is a tuple of addresses; chains are interned here again (one id per distinct chain:
    the kernel may define one chain under several ids when its table forgot it), and every
    allocation row of the attributed events has a chain id, -1 when it has none;
  - symbol names come from the ELF given, and it is checked against the trace's build id: the
    trace's build id must occur in the ELF's bytes (the kernel prints it), else names are
    refused as "symbols of another build".
"""

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import state
from ..definitions.events import FORMAT, REPO_ROOT

# The events that carry a call chain (TRACE_ATTRIBUTED_EVENT: a `chain` field).
ATTRIBUTED = tuple(e.name for e in FORMAT.events_by_id.values() if "chain" in e.fields.names
                   and e.name != "call_chain")
# Frames in these source directories are the allocators' own (kernel/lib: the list and string
# helpers inlined into them; trace/: the tracepoints, expanded from events.def): a call site is the
# first frame outside them.
ALLOCATOR_DIRS = ("kernel/mm/", "kernel/trace/", "kernel/lib/", "trace/")
# The tracing machinery itself: the chain's first address is inside the function holding the
# tracepoint, where addr2line -i names the tracepoint's inlined helpers first. They say how the
# event was written, not who allocated, so a stack shows none of them.
TRACING_DIRS = ("kernel/trace/", "trace/")
DEFAULT_ELF = Path(REPO_ROOT) / "build" / "pagescope.elf"


class SymbolsUnavailable(Exception):
    """The ELF is missing or is not the build that made the trace."""


@dataclass
class Frame:
    address: int
    function: str  # "??" when addr2line knows nothing
    location: str  # "kernel/workload/scenario_kheap.c:57", or "??"

    def label(self):
        return self.function if self.function != "??" else f"{self.address:#x}"

    def in_allocator(self):
        return self.location.startswith(ALLOCATOR_DIRS)


@dataclass
class Attribution:
    chains: list  # chain id -> tuple of addresses, innermost first
    chain_of: dict  # event name -> int64 array (chain id per row of trace.of(name); -1 = none)
    unmatched: int  # allocations naming a chain id no call_chain before them defines
    frames: dict = field(default_factory=dict)  # address -> [Frame], inlined ones first

    def has_sites(self):
        return any((ids >= 0).any() for ids in self.chain_of.values())

    def expanded(self, chain_id):
        """The chain's frames innermost first, each return address expanded into the functions
        inlined at it (innermost first), as addr2line -i names them."""
        return [f for a in self.chains[chain_id]
                for f in self.frames.get(a, [Frame(a, "??", "??")])]

    def site_frame(self, chain_id):
        """The call site of a chain, as one Frame: at the first return address that is not all
        allocator code, the functions inlined there from the first one outside the allocators
        outwards ("helper in caller"), at the line of the innermost of them that is in a .c file
        (a helper from a header is called from there). None when the allocation has no chain."""
        if chain_id < 0 or not self.chains[chain_id]:
            return None
        for address in self.chains[chain_id]:
            frames = self.frames.get(address, [Frame(address, "??", "??")])
            outside = [i for i, f in enumerate(frames) if not f.in_allocator()]
            if outside:
                mine = frames[outside[0]:]
                at = next((f for f in mine if f.location.split(":")[0].endswith(".c")), mine[0])
                return Frame(address, " in ".join(f.label() for f in mine), at.location)
        outermost = self.expanded(chain_id)[-1]
        return Frame(outermost.address, f"{outermost.label()} [all {len(self.chains[chain_id])} "
                     "recorded frames are allocator code]", outermost.location)

    def site(self, chain_id):
        """The call site as people read it: "function (file:line)"."""
        frame = self.site_frame(chain_id)
        if frame is None:
            return "(no call chain recorded)"
        return frame.label() + (f" ({frame.location})" if frame.location != "??" else "")

    def stack(self, chain_id):
        """The chain's frame labels, outermost first (a flame graph's order)."""
        return [label for label, _ in self.stack_frames(chain_id)]

    def stack_frames(self, chain_id):
        """[(label, return address or None)] of the chain, outermost first: its expanded frames
        but the tracepoint's own inlined helpers at its innermost end, under a first line that says what is missing (no chain, or callers beyond a chain that
        fills every recorded slot: said rather than drawn as a false root)."""
        if chain_id < 0:
            return [("(no call chain recorded)", None)]
        expanded = self.expanded(chain_id)
        while len(expanded) > 1 and expanded[0].location.startswith(TRACING_DIRS):
            expanded = expanded[1:]
        frames = [(f.label(), f.address) for f in reversed(expanded)]
        depth = FORMAT.constants["TRACE_SITE_DEPTH"]
        return ([("(callers beyond the recorded frames)", None)]
                if len(self.chains[chain_id]) == depth else []) + frames


def collect(trace):
    """The Attribution of a BulkTrace: every allocation's chain, unsymbolized."""
    defined = trace.of("call_chain")
    ip_fields = [n for n in defined.dtype.names if n.startswith("ip")]
    chains, intern = [], {}
    # kernel id -> (position of its call_chain, our chain id); the kernel's ids are unique
    kernel_ids = {}
    for row in zip(defined["chain"].tolist(), defined["position"].tolist(),
                   *(defined[n].tolist() for n in ip_fields)):
        chain = tuple(a for a in row[2:] if a)
        chain_id = intern.setdefault(chain, len(intern))
        if chain_id == len(chains):
            chains.append(chain)
        kernel_ids.setdefault(row[0], (row[1], chain_id))
    none = FORMAT.constants["TRACE_CHAIN_NONE"]
    chain_of, unmatched = {}, 0
    for name in ATTRIBUTED:
        rows = trace.of(name)
        ids = []
        for kernel_id, position in zip(rows["chain"].tolist(), rows["position"].tolist()):
            found = kernel_ids.get(kernel_id)
            if found is not None and found[0] < position:
                ids.append(found[1])
            else:
                unmatched += kernel_id != none
                ids.append(-1)
        chain_of[name] = np.array(ids, dtype=np.int64)
    return Attribution(chains, chain_of, unmatched)


def attributed_or_none(trace, elf=DEFAULT_ELF):
    """The trace's symbolized Attribution, or None when it has no call chains or the ELF cannot
    name them (a report then says so instead of showing raw addresses)."""
    found = collect(trace)
    if not found.has_sites():
        return None
    try:
        return symbolize(found, trace, elf)
    except SymbolsUnavailable:
        return None


def symbolize(attribution, trace, elf=DEFAULT_ELF):
    """Names every address of the attribution's chains from `elf` (addr2line). Raises
    SymbolsUnavailable when the ELF is missing or is not the trace's build."""
    elf = Path(elf)
    if not elf.exists():
        raise SymbolsUnavailable(f"{elf}: not found (build it with make, or pass --elf)")
    build = (trace.header.build_id or "").removesuffix("-dirty")
    if build and build.encode() not in elf.read_bytes():
        raise SymbolsUnavailable(f"{elf}: not the build that made the trace (build id {build} "
                                 "is not in it)")
    addresses = sorted({a for chain in attribution.chains for a in chain})
    if not addresses:
        return attribution
    # -a heads each address's group; -i lists the functions inlined at it, innermost first: the
    # last of a group is the function that owns the frame, with the line of the call in it. Each
    # is a return address: the byte before it is in the call instruction, whose line is wanted
    # (the return address itself may begin the next statement).
    result = subprocess.run(["addr2line", "-a", "-i", "-f", "-C", "-e", str(elf),
                             *[f"{a - 1:#x}" for a in addresses]], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise SymbolsUnavailable(f"{elf}: addr2line failed: {result.stderr.strip()}")
    root = str(REPO_ROOT).rstrip("/") + "/"
    groups, current = [], None
    for line in result.stdout.splitlines():
        if line.startswith("0x") and current is not None and len(current) % 2 == 0:
            groups.append(current)
            current = []
        elif current is None:
            current = []
        else:
            current.append(line)
    if current is not None:
        groups.append(current)
    for address, group in zip(addresses, groups):
        frames = []
        for function, location in zip(group[0::2], group[1::2]):
            location = location.split(" (discriminator")[0]
            if location.startswith(root):
                location = location[len(root):]
            location = os.path.normpath(location) if not location.startswith("??") else "??"
            frames.append(Frame(address, function, location))
        attribution.frames[address] = frames or [Frame(address, "??", "??")]
    return attribution


@dataclass
class Held:
    """What one call site holds at a moment."""

    site: str
    bytes: int
    allocations: int


def live_rows(trace, name, position):
    """Rows of trace.of(name) alive just before `position`: taken before it and not given back
    before it, as the one replay paired them (its free, kfree, slab_free, or for a reservation
    its release or its context's destroy; state.of(trace).held.ends)."""
    taken = trace.of(name)["position"]
    ends = state.of(trace).held.ends[name]
    return np.flatnonzero((taken < position) & (ends >= position))


def row_bytes(trace, name, rows):
    """Bytes each allocation row holds: pages x page size, usable bytes handed out, the slab
    cache's object size, reserved pages x page size."""
    a = trace.of(name)[rows]
    page = FORMAT.constants["TRACE_PAGE_BYTES"]
    if name == "pmm_alloc":  # the run the allocator keeps for it, its rounding included
        return a["held"].astype(np.int64) * page
    if name == "vmm_reserve":
        return a["pages"].astype(np.int64) * page
    if name == "kmalloc":
        return a["given"].astype(np.int64)
    sizes = {e.cache: e.object_size for e in trace.others_named("slab_cache_create")}
    return np.array([sizes.get(c, 0) for c in a["cache"].tolist()], dtype=np.int64)


def held_by_site(trace, attribution, name, position):
    """[Held] per call site of the `name` allocations alive at `position`, most bytes first."""
    rows = live_rows(trace, name, position)
    sizes = row_bytes(trace, name, rows)
    chains = attribution.chain_of[name][rows]
    table = {}
    for chain_id, size in zip(chains.tolist(), sizes.tolist()):
        site = attribution.site(chain_id)
        b, n = table.get(site, (0, 0))
        table[site] = (b + size, n + 1)
    return sorted((Held(s, b, n) for s, (b, n) in table.items()),
                  key=lambda h: (-h.bytes, h.site))


def folded_stacks(trace, attribution, name, position):
    """{"outer;...;inner": bytes held} of the `name` allocations alive at `position`: the
    collapsed-stack format FlameGraph's flamegraph.pl and speedscope read."""
    rows = live_rows(trace, name, position)
    sizes = row_bytes(trace, name, rows)
    out = {}
    for chain_id, size in zip(attribution.chain_of[name][rows].tolist(), sizes.tolist()):
        key = ";".join(attribution.stack(chain_id) + [name])
        out[key] = out.get(key, 0) + size
    return out


def held_over_time(trace, attribution, top):
    """{call site: (positions, bytes held after each)} of physical pages, for the `top` sites
    that held the most at any moment; each pmm_free is charged to the allocation the replay
    paired it with."""
    allocs, frees = trace.of("pmm_alloc"), trace.of("pmm_free")
    page = FORMAT.constants["TRACE_PAGE_BYTES"]
    pos = np.concatenate([allocs["position"], frees["position"]]).astype(np.int64)
    # the allocation row each event belongs to: itself, or for a free the allocation the one
    # replay paired it with (state.of(trace).held.gave_back)
    owner_row = np.concatenate([np.arange(len(allocs), dtype=np.int64),
                                state.of(trace).held.gave_back["pmm_free"]])
    sites = np.array([attribution.site(c) for c in attribution.chain_of["pmm_alloc"].tolist()]
                     + ["(freed memory of unknown origin)"], dtype=object)
    site_of_event = sites[np.where(owner_row >= 0, owner_row, len(sites) - 1)]
    delta = np.concatenate([allocs["held"], -frees["held"].astype(np.int64)]).astype(
        np.int64) * page
    by_time = np.argsort(pos, kind="stable")
    out = {}
    for site in set(site_of_event.tolist()):
        mine = by_time[site_of_event[by_time] == site]
        out[site] = (pos[mine], np.cumsum(delta[mine]))
    ranked = sorted(out, key=lambda s: -int(out[s][1].max()) if len(out[s][1]) else 0)
    return {s: out[s] for s in ranked[:top]}
