#!/usr/bin/python3
"""Analyzer throughput on a large synthetic trace.

    /usr/bin/python3 benchmarks/analyzer_throughput.py [--events 1000000] [--keep FILE]

Writes a trace of N events in the kernel's format (encoded from events.def's layouts, like the
kernel's encoder), with the kernel's mix of operations: physical allocations and frees over
slots that never overlap (so the replay is exact), reservations and releases in one region of
context 0, maps and unmaps of reserved pages onto allocated ones, kmalloc and kfree, phases with
pmm and vmm snapshots (split into parts like the kernel's when long) and a trace_end with the
right totals. It passes `analyzer check` (every figure comes from that replay, which refuses
anything less). Then measures, wall clock:

  1. decode + replay: the bulk reader and the one replay (every check of `analyzer check`, the
     exact timelines), in events/s;
  2. the whole conversion: decode + replay + Perfetto + frag CSV + every plot.

Targets (issue 11): >= 1,000,000 events/s for (1); <= 15 s for (2) at 1,000,000 events.
"""

import argparse
import bisect
import os
import random
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzer.pictures import plots  # noqa: E402
from analyzer.reading.bulk import BulkTrace  # noqa: E402
from analyzer.definitions.events import FORMAT  # noqa: E402
from analyzer.metrics.frag import write_csv  # noqa: E402
from analyzer.metrics.state import replay  # noqa: E402
from analyzer.export.perfetto import to_perfetto  # noqa: E402

PAGE = 4096
PHYS_BASE = 32 << 20
# Where the synthetic pmm's snapshots say its zones end (amd64's): the slots lie in dma32, the
# zone their pmm_allocs name.
DMA_END, DMA32_END = 16 << 20, 4 << 30
SLOTS = 4096
TEST_OWNER = FORMAT.value_numbers["MM_OWNER_TEST"]  # the owner of every page the trace maps
SLOT_PAGES = 16
VIRT_BASE = 0xFFFF800040000000
PHASES = 10
# Every operation's `cost` field (clock ticks; the analyzer's work does not depend on its value)
# and every allocation's `chain`: none (the kernel's call chains need its ELF to be named).
COST = 200
CHAIN = FORMAT.constants["TRACE_CHAIN_NONE"]


# The kernel's sub-buffer: the records come in chunks of at most this many bytes.
CHUNK_MAX = 64 * 1024


class Writer:
    def __init__(self):
        self.records = bytearray()
        self.starts = []  # where each record starts in self.records
        self.seq = 0  # records written
        self.time = 1_000_000
        self.counts = [0] * (FORMAT_MAX_ID + 1)

    def record(self, name, *values, tail=b"", flags=0):
        event = FORMAT.events_by_name[name]
        payload = event.fields.codec.pack(*values) + tail
        length = FORMAT.record_header.size + len(payload)
        self.time += 37
        self.starts.append(len(self.records))
        self.records += FORMAT.record_header.codec.pack(event.id, flags, length, self.time) + payload
        self.seq += 1
        self.counts[event.id] += 1

    def chunks(self):
        """The records cut into chunks as the kernel's ring does (events.def TRACE_CHUNK_HEADER):
        as many whole records as fit in CHUNK_MAX bytes, header included, per chunk."""
        header = FORMAT.chunk_header
        out, first, number = bytearray(), 0, 0
        ends = self.starts[1:] + [len(self.records)]
        while first < len(self.records):
            last = ends[bisect.bisect_right(ends, first + CHUNK_MAX - header.size) - 1]
            out += header.codec.pack(last - first + header.size, number) + \
                self.records[first:last]
            first, number = last, number + 1
        return bytes(out)

    def text(self, name, text):
        data = text.encode()
        self.record(name, tail=struct.pack("<H", len(data)) + data)

    def array(self, name, fields, items):
        event = FORMAT.events_by_name[name]
        room = (FORMAT.constants["TRACE_RECORD_MAX"] - FORMAT.record_header.size -
                event.payload_size) // event.item.size
        parts = [items[i:i + room] for i in range(0, len(items), room)] or [[]]
        for n, part in enumerate(parts):
            body = b"".join(event.item.codec.pack(*item) for item in part)
            self.record(name, *fields, tail=struct.pack("<H", len(part)) + body,
                        flags=0 if n == len(parts) - 1 else FORMAT.constants["TRACE_FLAG_CONTINUED"])


FORMAT_MAX_ID = max(FORMAT.events_by_id)


def free_runs(base, live, slot_bytes):
    """Free extents of [base, base + SLOTS * slot_bytes) with `live` {slot: pages} used."""
    runs, start = [], base
    for slot in sorted(live):
        addr = base + slot * slot_bytes
        if addr > start:
            runs.append((start, (addr - start) // PAGE))
        start = addr + live[slot] * PAGE
    end = base + SLOTS * slot_bytes
    if end > start:
        runs.append((start, (end - start) // PAGE))
    return runs


def snapshots(w, phys, virt):
    runs = free_runs(PHYS_BASE, phys, SLOT_PAGES * PAGE)
    w.array("pmm_snapshot", [sum(p for _, p in runs), DMA_END, DMA32_END], runs)
    w.array("vmm_snapshot", [0, 0], free_runs(VIRT_BASE, virt, SLOT_PAGES * PAGE))
    w.record("vmm_bookkeeping", 64 * len(virt), 0)


def make_trace(events, seed=1):
    rng = random.Random(seed)
    w = Writer()
    phys, virt = {}, {}
    mapped = {}  # virtual slot -> physical slot: its first page mapped onto that one's first
    mapped_by_phys = {}  # the same, physical slot -> virtual slot
    kmalloc_live = {}  # address -> bytes given
    per_phase = events // PHASES
    w.record("context_create", 0x1000, 0)
    name = b"bench"
    w.record("vmm_region", VIRT_BASE, SLOTS * SLOT_PAGES, 0, 0, TEST_OWNER,
             tail=struct.pack("<H", len(name)) + name)

    def unmap(virt_slot):
        phys_slot = mapped.pop(virt_slot)
        del mapped_by_phys[phys_slot]
        w.record("vmm_unmap", VIRT_BASE + virt_slot * SLOT_PAGES * PAGE,
                 PHYS_BASE + phys_slot * SLOT_PAGES * PAGE, 0, 0, 3)
    for phase in range(PHASES):
        name = f"phase-{phase}"
        w.text("phase_begin", name)
        snapshots(w, phys, virt)
        start = w.seq
        while w.seq - start < per_phase:
            slot = rng.randrange(SLOTS)
            op = rng.random()
            if op < 0.55:  # physical churn, the bulk of a real trace
                addr = PHYS_BASE + slot * SLOT_PAGES * PAGE
                if slot in phys:
                    if slot in mapped_by_phys:
                        unmap(mapped_by_phys[slot])
                    pages = phys.pop(slot)
                    w.record("pmm_free", addr, pages, pages, 1, 8, COST)  # held = pages: exact
                else:
                    phys[slot] = rng.randint(1, SLOT_PAGES)
                    w.record("pmm_alloc", addr, phys[slot], phys[slot], 1, 0, 8, COST, CHAIN)
            elif op < 0.65:  # virtual churn
                addr = VIRT_BASE + slot * SLOT_PAGES * PAGE
                if slot in virt:
                    if slot in mapped:
                        unmap(slot)
                    w.record("vmm_release", addr, virt.pop(slot), rng.randint(4, 40), 0, 0, COST)
                else:
                    virt[slot] = rng.randint(1, SLOT_PAGES)
                    w.record("vmm_reserve", addr, virt[slot], rng.randint(4, 400), 0, 0, 0, COST,
                             CHAIN)
            elif op < 0.85:  # map a reserved slot's first page onto an allocated slot's
                if slot in mapped:
                    unmap(slot)
                elif slot in virt:
                    phys_slot = rng.randrange(SLOTS)
                    if phys_slot in phys and phys_slot not in mapped_by_phys:
                        mapped[slot] = phys_slot
                        mapped_by_phys[phys_slot] = slot
                        w.record("vmm_map", VIRT_BASE + slot * SLOT_PAGES * PAGE,
                                 PHYS_BASE + phys_slot * SLOT_PAGES * PAGE, 0, 0, 3)
            else:
                ptr = 0xFFFF800010000000 + slot * 1024
                if ptr in kmalloc_live:
                    w.record("kfree", ptr, kmalloc_live.pop(ptr), COST)
                else:
                    size = rng.choice([8, 16, 64, 256, 1024])
                    kmalloc_live[ptr] = size
                    w.record("kmalloc", ptr, size, size, COST, CHAIN)
        snapshots(w, phys, virt)
        w.text("phase_end", name)
    counts = list(w.counts)
    body_bytes = len(w.records)
    records = w.seq
    end = FORMAT.events_by_name["trace_end"]
    w.record("trace_end", records, 0, 0, 0, body_bytes,
             tail=struct.pack("<H", len(counts)) + b"".join(struct.pack("<Q", c) for c in counts))
    cmdline, build = b"synthetic benchmark", b"bench"
    header = FORMAT.stream_header
    fields = dict(magic=FORMAT.constants["TRACE_MAGIC"],
                  version=FORMAT.constants["TRACE_FORMAT_VERSION"],
                  header_bytes=header.size + len(cmdline) + len(build), clock=1, vmm_backend=1,
                  trace_mode=0, max_event_id=FORMAT_MAX_ID, clock_hz=1_000_000_000,
                  start_timestamp=1_000_000, first_timestamp=1_000_000, memory_bytes=1 << 30, cmdline_bytes=len(cmdline),
                  build_id_bytes=len(build))
    assert end.id <= FORMAT_MAX_ID
    return header.codec.pack(*(fields[n] for n in header.names)) + cmdline + build + w.chunks()


class Clock:
    """Wall and CPU (this process) time per step."""

    def __init__(self):
        self.laps = []
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self, name):
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps.append((name, wall - self.wall, cpu - self.cpu))
        self.wall, self.cpu = wall, cpu

    def total(self, steps):
        return (sum(w for _, w, _ in self.laps[:steps]), sum(c for _, _, c in self.laps[:steps]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", help="also write the generated trace here")
    args = parser.parse_args()
    started = time.perf_counter()
    data = make_trace(args.events)
    print(f"generated {args.events} events, {len(data) / 2**20:.1f} MiB in "
          f"{time.perf_counter() - started:.1f} s (not measured below)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep or Path(tmp) / "large.pstrace")
        path.write_bytes(data)
        out = Path(tmp)
        clock = Clock()
        trace = BulkTrace.open(path)
        clock.lap("decode (bulk read + every check)")
        series = replay(trace)
        clock.lap("replay (the one replay: every check of `check`, exact timelines)")
        pftrace = to_perfetto(trace, series)
        (out / "large.pftrace").write_bytes(pftrace)
        clock.lap(f"perfetto ({len(pftrace) / 2**20:.1f} MiB)")
        with open(out / "large.csv", "w") as f:
            write_csv(series, trace, f)
        clock.lap("frag csv")
        plots.draw_all([(trace, series)], out)
        clock.lap(f"plots ({len(plots.ALL)} x PNG+SVG)")
    events = trace.events_total()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (wall clock "
          f"includes waiting for other processes; CPU time does not); python "
          f"{sys.version.split()[0]}")
    print(f"  {'step':<40} {'wall s':>8} {'CPU s':>8}")
    for name, wall, cpu in clock.laps:
        print(f"  {name:<40} {wall:8.2f} {cpu:8.2f}")
    wall, cpu = clock.total(2)
    print(f"decode + replay: {events} events ({series.report.events_replayed} allocator events "
          f"replayed): {events / wall:,.0f} events/s wall, "
          f"{events / cpu:,.0f} events/s CPU (target >= 1,000,000)")
    wall, cpu = clock.total(5)
    print(f"trace -> perfetto + frag + plots: {wall:.2f} s wall, {cpu:.2f} s CPU "
          "(target <= 15 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
