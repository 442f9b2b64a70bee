"""Who holds memory, as a Perfetto heap profile: every allocation of a trace with its call chain
(call_chain, analyzer/metrics/attribution.py), written as heapprofd's ProfilePacket. Perfetto's UI shows
it on the process's heap profile track, a marker per dump; a click on one opens the flame graph
of the memory unreleased at that moment, per call stack (its "Unreleased memory" view).

Why ProfilePacket: it is the one heap format of Perfetto that carries call stacks and that the UI
draws as a flame graph of memory held (StreamingAllocation/StreamingFree carry no call site; a
heap graph is a Java object graph, not call stacks).

Layout (one .pftrace of its own, so the event trace of analyzer/export/perfetto.py stays as it is):
  - a trace_uuid (its own: the file's identity must differ from the event trace's);
  - a ClockSnapshot putting MONOTONIC_COARSE, the clock of ProcessHeapSamples.timestamp, and
    BOOTTIME, the clock of packet timestamps, at the same reading, so a dump sits at the same
    ns as the moment it is taken at in the event trace (ns since the trace's first clock
    reading, analyzer/export/perfetto.py);
  - the process "pagescope kernel" (pid 1, as in the event trace);
  - one ProfilePacket per moment (index 0, 1, ...), each complete in itself: its strings, one
    mapping (the kernel's ELF), frames, call stacks, and one ProcessHeapSamples per allocator
    (heap_name: physical pages, kmalloc, slab, virtual reservations).

Numbers: nothing is sampled (sampling_interval_bytes = 1): per call stack, self_allocated is the
bytes of all its allocations made before the moment, self_freed the bytes of those of them freed
before it, so allocated - freed is what it holds then, exactly the figure of `analyzer owners`
and the report's flame graph (both from attribution.live_rows and attribution.row_bytes).
A call stack is the chain's frames outermost first with the allocating event as its leaf.
"""

import hashlib

import numpy as np

from ..metrics.attribution import live_rows, row_bytes
from .perfetto_proto import pb

SEQUENCE = 1
PID = 1  # the event trace's "pagescope kernel" process (analyzer/export/perfetto.py)
PROCESS_UUID = 1
BOOTTIME, MONOTONIC_COARSE = 6, 4  # Perfetto's BuiltinClock numbers
HEAPS = (("pmm_alloc", "physical pages"), ("kmalloc", "kmalloc"), ("slab_alloc", "slab"),
         ("vmm_reserve", "virtual reservations"))


def heap_samples(trace, attribution, name, position):
    """{chain id: (allocated bytes, freed bytes, allocations, frees)} of the `name` allocations
    made before `position`, freed or not by then."""
    allocations = trace.of(name)
    made = np.flatnonzero(allocations["position"] < position)
    held = np.zeros(len(allocations), dtype=bool)
    held[live_rows(trace, name, position)] = True
    sizes = row_bytes(trace, name, made)
    out = {}
    for chain, size, alive in zip(attribution.chain_of[name][made].tolist(), sizes.tolist(),
                                  held[made].tolist()):
        allocated, freed, count, frees = out.get(chain, (0, 0, 0, 0))
        out[chain] = (allocated + size, freed + (0 if alive else size), count + 1,
                      frees + (0 if alive else 1))
    return out


class _Tables:
    """The strings, frames and call stacks of one ProfilePacket, interned (ids from 1)."""

    def __init__(self, packet, attribution, elf_name):
        self.packet, self.attribution = packet, attribution
        self.strings, self.frames, self.callstacks = {}, {}, {}
        packet.mappings.add(iid=1, path_string_ids=[self.string(elf_name)])

    def string(self, text):
        if text not in self.strings:
            self.strings[text] = len(self.strings) + 1
            self.packet.strings.add(iid=self.strings[text], str=text.encode())
        return self.strings[text]

    def frame(self, label, address):
        key = (label, address)
        if key not in self.frames:
            self.frames[key] = len(self.frames) + 1
            self.packet.frames.add(iid=self.frames[key], function_name_id=self.string(label),
                                   mapping_id=1, rel_pc=address or 0)
        return self.frames[key]

    def callstack(self, chain, leaf):
        key = (chain, leaf)
        if key not in self.callstacks:
            self.callstacks[key] = len(self.callstacks) + 1
            frames = self.attribution.stack_frames(chain) + [(leaf, None)]
            self.packet.callstacks.add(iid=self.callstacks[key],
                                       frame_ids=[self.frame(*f) for f in frames])
        return self.callstacks[key]


def to_heap_profile(trace, attribution, moments, elf_name="pagescope.elf"):
    """The heap profile (bytes of a Perfetto Trace) of a BulkTrace with its Attribution, one
    dump per moment: [(record position, label)], the state after the events before each."""
    trace_out = pb.Trace()
    identity = trace_out.packet.add(trusted_packet_sequence_id=SEQUENCE)
    digest = hashlib.sha256(b"pagescope heap profile\0" + bytes(trace.data)).digest()
    identity.trace_uuid.msb = int.from_bytes(digest[:8], "little", signed=True)
    identity.trace_uuid.lsb = int.from_bytes(digest[8:16], "little", signed=True)
    clocks = trace_out.packet.add(trusted_packet_sequence_id=SEQUENCE)
    clocks.clock_snapshot.clocks.add(clock_id=BOOTTIME, timestamp=0)
    clocks.clock_snapshot.clocks.add(clock_id=MONOTONIC_COARSE, timestamp=0)
    process = trace_out.packet.add(trusted_packet_sequence_id=SEQUENCE)
    process.track_descriptor.uuid = PROCESS_UUID
    process.track_descriptor.process.pid = PID
    process.track_descriptor.process.process_name = "pagescope kernel"
    times = trace.time_ns(trace.headers["timestamp"]).astype(np.int64)
    for index, (position, _) in enumerate(moments):
        ns = int(times[min(max(position, 1), len(times)) - 1]) if len(times) else 0
        packet = trace_out.packet.add(trusted_packet_sequence_id=SEQUENCE, timestamp=ns)
        profile = packet.profile_packet
        profile.index, profile.continued = index, False
        tables = _Tables(profile, attribution, elf_name)
        for name, heap in HEAPS:
            samples = heap_samples(trace, attribution, name, position)
            if not samples:
                continue
            dump = profile.process_dumps.add(pid=PID, timestamp=ns, heap_name=heap,
                                             sampling_interval_bytes=1)
            for chain, (allocated, freed, count, frees) in sorted(samples.items()):
                dump.samples.add(callstack_id=tables.callstack(chain, name),
                                 self_allocated=allocated, self_freed=freed,
                                 alloc_count=count, free_count=frees)
    return trace_out.SerializeToString()


def unreleased(data):
    """What Perfetto's UI draws of a heap profile, read back from its bytes: per dump (timestamp,
    heap name), {call stack as a tuple of function names, outermost first: bytes unreleased}
    (self_allocated - self_freed), leaving out stacks that hold nothing."""
    out = {}
    for packet in pb.Trace.FromString(data).packet:
        if not packet.HasField("profile_packet"):
            continue
        p = packet.profile_packet
        strings = {s.iid: s.str.decode() for s in p.strings}
        frames = {f.iid: strings[f.function_name_id] for f in p.frames}
        stacks = {c.iid: tuple(frames[f] for f in c.frame_ids) for c in p.callstacks}
        for dump in p.process_dumps:
            held = out.setdefault((dump.timestamp, dump.heap_name), {})
            for s in dump.samples:
                if s.self_allocated > s.self_freed:
                    stack = stacks[s.callstack_id]
                    held[stack] = held.get(stack, 0) + s.self_allocated - s.self_freed
    return out
