"""Synthetic user-process event streams, written the way the lead's contract says the kernel emits
them (trace/events.def, user-process section): a kernel context, then programs spawned, faulting,
calling brk and mmap, forking with copy-on-write, exec'ing, exiting and being killed.

`ProgramRun` keeps its own small model of what it emitted (free physical pages, reservations and
mappings per context, sharers per frame) only to write consistent snapshots and page_share
counts; the analyzer's replay is what the tests check. `events()` gives analyzer records (for the
replay in-process), `c_calls()` the same stream as calls of the kernel's own encoders (for a
.pstrace file written by tests/python/fixtures/encode_events.c).
"""

import subprocess

from analyzer.definitions.events import FORMAT
from analyzer.definitions.syscalls import ENOSYS, SYSCALL_NUMBERS

PAGE = 4096
V = FORMAT.value_numbers
USER, PAGETABLE_OWNER = V["MM_OWNER_USER"], V["MM_OWNER_PAGE_TABLE"]
RW = V["PT_READ"] | V["PT_WRITE"] | V["PT_USER"]
RO = V["PT_READ"] | V["PT_USER"]
RX = V["PT_READ"] | V["PT_EXECUTE"] | V["PT_USER"]
PMM_BASE, PMM_PAGES = 0x100000, 2048  # the physical pages the synthetic pmm hands out
DMA_END, DMA32_END = 16 << 20, 1 << 32
KERNEL_REGION = (0xFFFF800000000000, 1024)
# A user context's regions, in events.def's user_region order: heap, mmap, shm, libraries, stacks.
USER_REGIONS = [(0x10000000 * (r + 1), 4096) for r in range(5)]
HEAP, MMAP, SHM, TEXT, STACK = range(5)
STACK_TOP = USER_REGIONS[STACK][0] + USER_REGIONS[STACK][1] * PAGE
ERRNO_RESULT = lambda errno: (1 << 64) - errno  # noqa: E731


def region_of(addr):
    return next(r for r, (base, pages) in enumerate(USER_REGIONS)
                if base <= addr < base + pages * PAGE)


class ProgramRun:
    def __init__(self):
        self.records = []  # (event name, {field: value}, text or items or None)
        self.free_phys = set(range(PMM_BASE, PMM_BASE + PMM_PAGES * PAGE, PAGE))
        self.contexts = {}  # id -> {"reserved": {start: pages}, "mapped": {virt: (phys, flags)}}
        self.sharers = {}  # phys -> mappings
        self.pids = {}  # pid -> context
        self.heap = {}  # context -> heap pages
        self.next_context = 0
        self.ticks = 900
        self.emit_context(KERNEL_REGION, kernel=True)
        self.emit("phase_begin", text="program")
        self.snapshot_all()

    # ---- emitting ----------------------------------------------------------------------------

    def emit(self, name, text=None, items=None, **fields):
        event = FORMAT.events_by_name[name]
        values = {f: 0 for f in event.fields.names}
        unknown = set(fields) - set(values)
        assert not unknown, f"{name} has no field {unknown}"
        values.update(fields)
        self.records.append((name, values, text if event.kind == "string" else items))
        return self

    def tick(self):
        """A fault's or call's cost in ticks: varied so distributions have a shape."""
        self.ticks = (self.ticks * 7 + 311) % 5000 + 400
        return self.ticks

    def emit_context(self, *regions, kernel=False):
        context = self.next_context
        self.next_context += 1
        self.emit("context_create", root=0x9000 + context * PAGE, context=context)
        for r, (base, pages) in enumerate(regions):
            self.emit("vmm_region", base=base, pages=pages, context=context, region=r,
                      owner=V["MM_OWNER_HEAP"] if kernel else USER, text=f"region{r}")
        self.contexts[context] = {"regions": list(regions), "reserved": {}, "mapped": {}}
        return context

    def pmm_alloc(self):
        phys = min(self.free_phys)
        self.free_phys.discard(phys)
        self.emit("pmm_alloc", addr=phys, pages=1, held=1, zone=V["PMM_ZONE_DMA"], owner=USER)
        return phys

    def pmm_free(self, phys):
        self.free_phys.add(phys)
        self.emit("pmm_free", addr=phys, pages=1, held=1, zone=V["PMM_ZONE_DMA"], owner=USER)

    def reserve(self, context, addr, pages, align_log2=0):
        self.contexts[context]["reserved"][addr] = pages
        self.emit("vmm_reserve", addr=addr, pages=pages, work=3, context=context,
                  region=region_of(addr), align_log2=align_log2)

    def map(self, context, virt, phys, flags):
        self.contexts[context]["mapped"][virt] = (phys, flags)
        self.emit("vmm_map", virt=virt, phys=phys, context=context, flags=flags)

    def resident(self, pid):
        context = self.pids[pid]
        c = self.contexts[context]
        self.emit("process_resident", resident_pages=len(c["mapped"]),
                  reserved_pages=sum(c["reserved"].values()), pid=pid, context=context)

    def syscall(self, pid, name, result, *args):
        number = SYSCALL_NUMBERS[name] if isinstance(name, str) else name
        fields = {f"arg{i}": a for i, a in enumerate(args)}
        self.emit("syscall", result=result, pid=pid, ticks=self.tick(), number=number,
                  context=self.pids[pid], **fields)

    def fault(self, pid, addr, access, outcome, work=4):
        self.emit("page_fault", addr=addr, rip=0x30001234, pid=pid, work=work,
                  ticks=self.tick(), context=self.pids[pid], access=V[f"VMM_ACCESS_{access}"],
                  outcome=V[f"VMM_FAULT_{outcome}"])

    def snapshot_context(self, context):
        c = self.contexts[context]
        item = FORMAT.events_by_name["vmm_snapshot"].item_record
        for r, (base, pages) in enumerate(c["regions"]):
            used = sorted((a, n) for a, n in c["reserved"].items()
                          if base <= a < base + pages * PAGE)
            runs, at = [], base
            for a, n in used + [(base + pages * PAGE, 0)]:
                if a > at:
                    runs.append(item(at, (a - at) // PAGE))
                at = a + n * PAGE
            self.emit("vmm_snapshot", context=context, region=r, items=tuple(runs))
        self.emit("vmm_bookkeeping", bytes=64 * (1 + len(c["reserved"])), context=context)

    def snapshot_all(self):
        item = FORMAT.events_by_name["pmm_snapshot"].item_record
        runs, start, previous = [], None, None
        for page in sorted(self.free_phys) + [None]:
            if start is not None and page != previous + PAGE:
                runs.append(item(start, (previous + PAGE - start) // PAGE))
                start = None
            if start is None:
                start = page
            previous = page
        self.emit("pmm_snapshot", free_pages=len(self.free_phys), dma_end=DMA_END,
                  dma32_end=DMA32_END, items=tuple(runs))
        for context in sorted(self.contexts):
            self.snapshot_context(context)

    # ---- what programs do --------------------------------------------------------------------

    def spawn(self, pid, path="/hello"):
        context = self.emit_context(*USER_REGIONS)
        self.load(context)  # as kernel/user/process.c: loaded, then process_start
        self.pids[pid] = context
        self.emit("process_start", pid=pid, parent=0, context=context,
                  how=V["PROCESS_START_SPAWN"], text=path)
        self.resident(pid)
        return context

    def load(self, context):
        """The ELF loader: text reserved and copied into eagerly mapped pages, a stack reserved."""
        text = USER_REGIONS[TEXT][0]
        self.reserve(context, text, 4)
        for i in range(2):
            self.map(context, text + i * PAGE, self.pmm_alloc(), RX)
        self.reserve(context, STACK_TOP - 8 * PAGE, 8)

    def touch(self, pid, addr, access="WRITE", flags=RW):
        """A first touch of a reserved page: zero-filled."""
        context = self.pids[pid]
        page = addr - addr % PAGE
        self.map(context, page, self.pmm_alloc(), flags)
        self.fault(pid, addr, access, "ZERO_FILL")
        self.resident(pid)

    def grow_stack(self, pid, addr):
        context = self.pids[pid]
        page = addr - addr % PAGE
        self.reserve(context, page, 1)
        self.map(context, page, self.pmm_alloc(), RW)
        self.fault(pid, addr, "WRITE", "STACK_GROW")
        self.resident(pid)

    def brk(self, pid, new_pages):
        context = self.pids[pid]
        base = USER_REGIONS[HEAP][0]
        old = self.heap.get(context, self.contexts[context]["reserved"].get(base, 0))
        self.emit("vmm_brk", base=base, old_pages=old, new_pages=new_pages, context=context,
                  region=HEAP)
        lo = base + min(old, new_pages) * PAGE
        if new_pages > old:
            self.emit("vmm_reserve", addr=lo, pages=new_pages - old, work=2, context=context,
                      region=HEAP)
        else:
            self.emit("vmm_release", addr=lo, pages=old - new_pages, work=2, context=context,
                      region=HEAP)
        self.heap[context] = new_pages
        reserved = self.contexts[context]["reserved"]
        if new_pages:
            reserved[base] = new_pages
        else:
            reserved.pop(base, None)
        self.syscall(pid, "brk", base + new_pages * PAGE, base + new_pages * PAGE)
        self.resident(pid)

    def mmap(self, pid, pages):
        context = self.pids[pid]
        reserved = self.contexts[context]["reserved"]
        base = USER_REGIONS[MMAP][0]
        addr = max([a + n * PAGE for a, n in reserved.items() if region_of(a) == MMAP],
                   default=base)
        self.reserve(context, addr, pages)
        self.syscall(pid, "mmap", addr, 0, pages * PAGE, 3, 0x22, (1 << 64) - 1, 0)
        self.resident(pid)
        return addr

    def munmap(self, pid, addr, pages):
        context = self.pids[pid]
        c = self.contexts[context]
        for virt in range(addr, addr + pages * PAGE, PAGE):
            if virt in c["mapped"]:  # as kernel/mm/pagetable.c: the frame goes, then the unmap
                phys, flags = c["mapped"].pop(virt)
                self.drop_frame(phys, context)
                self.emit("vmm_unmap", virt=virt, phys=phys, context=context, flags=flags)
        del c["reserved"][addr]
        self.emit("vmm_release", addr=addr, pages=pages, work=3, context=context,
                  region=region_of(addr))
        self.syscall(pid, "munmap", 0, addr, pages * PAGE)
        self.resident(pid)

    def drop_frame(self, phys, context):
        """One mapping of phys went: page_share it down while shared, else free it."""
        n = self.sharers.get(phys, 1)
        if n > 1:
            self.sharers[phys] = n - 1
            self.emit("page_share", phys=phys, sharers=n - 1, context=context)
        else:
            self.sharers.pop(phys, None)
            self.pmm_free(phys)

    def fork(self, parent, child):
        parent_context = self.pids[parent]
        context = self.emit_context(*USER_REGIONS)
        self.pids[child] = context
        for addr, pages in sorted(self.contexts[parent_context]["reserved"].items()):
            self.reserve(context, addr, pages)
        for virt, (phys, flags) in sorted(self.contexts[parent_context]["mapped"].items()):
            # as kernel/mm/vmm_fork.c: the count first, then the parent's and the child's entry
            self.sharers[phys] = self.sharers.get(phys, 1) + 1
            self.emit("page_share", phys=phys, sharers=self.sharers[phys], context=context)
            if flags & V["PT_WRITE"]:
                flags &= ~V["PT_WRITE"]
                self.contexts[parent_context]["mapped"][virt] = (phys, flags)
                self.emit("vmm_protect", virt=virt, phys=phys, context=parent_context,
                          flags=flags)
            self.map(context, virt, phys, flags)
            self.emit("vmm_protect", virt=virt, phys=phys, context=context, flags=flags)
        self.emit("process_start", pid=child, parent=parent, context=context,
                  how=V["PROCESS_START_FORK"], text="/hello")
        self.syscall(parent, "fork", child)
        self.resident(parent)
        self.resident(child)
        return context

    def cow_write(self, pid, addr):
        context = self.pids[pid]
        page = addr - addr % PAGE
        phys, flags = self.contexts[context]["mapped"][page]
        n = self.sharers.get(phys, 1)
        if n > 1:  # as kernel/mm/vmm_fault.c and pt_replace_owned: copy, count, unmap, map
            new = self.pmm_alloc()
            self.sharers[phys] = n - 1
            self.emit("page_share", phys=phys, sharers=n - 1, context=context)
            self.emit("vmm_unmap", virt=page, phys=phys, context=context, flags=flags)
            self.map(context, page, new, flags | V["PT_WRITE"])
            self.fault(pid, addr, "WRITE", "COW_COPY")
        else:  # the last mapping: write given back, no count changes
            self.contexts[context]["mapped"][page] = (phys, flags | V["PT_WRITE"])
            self.emit("vmm_protect", virt=page, phys=phys, context=context,
                      flags=flags | V["PT_WRITE"])
            self.fault(pid, addr, "WRITE", "COW_REUSE")
        self.resident(pid)

    def unsupported(self, pid, number):
        self.syscall(pid, number, ERRNO_RESULT(ENOSYS))

    def destroy(self, context):
        """The context's destruction: its snapshots, each frame freed or shared down, then
        context_destroy (no vmm_unmap per page)."""
        self.snapshot_context(context)
        for virt, (phys, _) in sorted(self.contexts[context]["mapped"].items()):
            self.drop_frame(phys, context)
        del self.contexts[context]
        self.heap.pop(context, None)
        self.emit("context_destroy", context=context)

    def exit(self, pid, code=0):
        context = self.pids.pop(pid)
        self.emit("process_exit", pid=pid, status=code << 8, context=context,
                  reason=V["PROCESS_EXIT_CALLED"])
        self.destroy(context)

    def kill_by_fault(self, pid, addr):
        """A touch of memory nothing reserved: refused, then the process is killed (SIGSEGV)."""
        context = self.pids[pid]
        self.fault(pid, addr, "WRITE", "REFUSED_FREE")
        self.pids.pop(pid)
        self.emit("process_exit", pid=pid, status=11, context=context,
                  reason=V["PROCESS_EXIT_KILLED_FAULT"])
        self.destroy(context)

    def exec(self, pid, path="/other", destroy_first=True):
        """As kernel/user/process.c: the new context loaded, the old one destroyed, then
        process_start (destroy_first=False: the contract's order, destroyed after it); the
        execve call's event comes last, naming the context it left."""
        old = self.pids[pid]
        context = self.emit_context(*USER_REGIONS)
        self.load(context)
        if destroy_first:
            self.destroy(old)
        self.pids[pid] = context
        self.emit("process_start", pid=pid, parent=0, context=context,
                  how=V["PROCESS_START_EXEC"], text=path)
        if not destroy_first:
            self.destroy(old)
        self.resident(pid)
        self.emit("syscall", result=0, pid=pid, ticks=self.tick(),
                  number=SYSCALL_NUMBERS["execve"], context=old)

    def end(self):
        self.snapshot_all()
        self.emit("phase_end", text="program")
        return self

    # ---- outputs -----------------------------------------------------------------------------

    def events(self):
        """The stream as analyzer records (what TraceReader.events() yields)."""
        out = []
        for seq, (name, values, tail) in enumerate(self.records):
            event = FORMAT.events_by_name[name]
            extra = {"string": {"text": tail}, "array": {"items": tail}}.get(event.kind, {})
            out.append(event.record(seq=seq, timestamp=1000 * (seq + 1), **values, **extra))
        return out

    def c_calls(self):
        """The stream as calls of the kernel's trace_emit_* encoders (on tracer `t`)."""
        lines = []
        for name, values, tail in self.records:
            event = FORMAT.events_by_name[name]
            args = "".join(f", {values[f]}ULL" for f in event.fields.names)
            if event.kind == "fixed":
                lines.append(f"trace_emit_{name}(t{args});")
            elif event.kind == "string":
                lines.append(f'trace_emit_{name}(t{args}, "{tail}");')
            else:
                lines.append(f"trace_emit_{name}_begin(t{args});")
                lines += [f"trace_emit_{name}_add(t" + "".join(f", {v}ULL" for v in item) + ");"
                          for item in tail]
                lines.append(f"trace_array_end(t, TRACE_ID_{name});")
        return "\n".join(lines) + "\n"


def typical_run():
    """A program that touches its heap, grows its stack, maps and unmaps memory, calls something
    unsupported, forks a child that writes shared pages (one copy, one reuse), exec's, and a
    second child killed by a wild write: every event kind and fault outcome but refused_outside,
    refused_protection, out_of_memory and spurious."""
    run = ProgramRun()
    run.spawn(1)
    run.brk(1, 4)
    heap = USER_REGIONS[HEAP][0]
    run.touch(1, heap + 0x10)
    run.touch(1, heap + PAGE + 8)
    run.touch(1, STACK_TOP - 16)
    run.grow_stack(1, STACK_TOP - 9 * PAGE + 40)
    addr = run.mmap(1, 8)
    run.touch(1, addr + 3 * PAGE)
    run.unsupported(1, SYSCALL_NUMBERS["rt_sigtimedwait"])
    run.unsupported(1, 9999)
    run.fork(1, 2)
    run.cow_write(2, heap + 0x10)  # shared by 2: copied
    run.cow_write(1, heap + 0x10)  # now the parent's alone: reused
    run.brk(2, 6)
    run.touch(2, heap + 5 * PAGE)
    run.exec(2)
    run.touch(2, STACK_TOP - 8)
    run.exit(2, 3)
    run.munmap(1, addr, 8)
    run.fork(1, 3)
    run.kill_by_fault(3, USER_REGIONS[MMAP][0] + 100 * PAGE)
    run.exit(1, 0)
    return run.end()


def write_trace(build_encoder, run, out, backend="pagetable", clock_hz=1000000000):
    """Writes `run` as a .pstrace at `out` with the kernel's encoders; the header names the
    backend and a 1 GHz TSC (what QEMU icount gives)."""
    calls = out.parent / f"{out.stem}.calls.inc"
    calls.write_text(run.c_calls())
    backend_value = V["VMM_BACKEND_PAGETABLE"] if backend == "pagetable" else V["VMM_BACKEND_LIST"]
    config = ("#define FAKE_CLOCK_START 1000\n#define FAKE_CLOCK_STEP 250\n"
              f"#define HEADER_INFO {{ .clock = {V['TRACE_CLOCK_TSC']}, .clock_hz = {clock_hz}ULL,"
              f" .vmm_backend = {backend_value}, .memory_bytes = 1 << 29, .cmdline = "
              f"\"trace=on vmm={backend} scenario=program\", .build_id = \"synthetic\" }}\n"
              f"#define EVENT_CALLS \"{calls}\"\n")
    binary = build_encoder(config, f"program-{out.stem}")
    subprocess.run([str(binary), str(out)], check=True)
    return out
