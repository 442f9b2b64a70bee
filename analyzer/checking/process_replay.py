"""Checks of the user-process events (process_start, process_exit, page_fault, syscall,
process_resident, page_share) against the allocator events around them, as part of the replay
`analyzer check` runs (analyzer/checking/replay.py feeds every event here first, before its own handler,
so the replay's state is the state just before the event).

The sequences the kernel emits are the lead's contract (trace/events.def, user-process section):
a fault's and a call's allocator events come before its page_fault or syscall event; fork maps
the parent's frames in the child and announces each shared frame with page_share; exit emits no
vmm_unmap, the context's destruction pmm_frees each owned frame or page_shares it down. The
kernel may state a count change (page_share) or free a frame (pmm_free) just before or just after
the vmm_map or vmm_unmap that makes it true (kernel/mm/pagetable.c frees, then traces the unmap),
so counts and frees are checked at the next checkpoint: the next syscall or page_fault event (each
comes after all of its call's or fault's allocator events), and the end of the trace.

State, and the invariants each check holds (a check is one method named check_*, so that a test
can remove it and see its mutation pass, tests/python/test_process_replay.py):

  processes   pid -> Process (its context; the contexts it left by exec). A pid is live from its
              process_start (spawn, fork) to its process_exit; exec keeps the pid, moves it to a
              fresh context and makes the old one dying. A live process's context is never
              destroyed, unless its exec moves it away next (kernel/user/process.c destroys the
              old context before the exec's process_start); every dying context is destroyed by
              the end of the trace. After a refused or out-of-memory fault the process's next
              event is its kill (process_exit), or the failure (-EFAULT) of the call the kernel
              took the fault for.
  frames      phys -> Frame, every page mapped in a process context (its mappings there; a
              context's mappings count from its process_start, which adopts what it mapped
              before). At each checkpoint, a frame mapped or page_shared since the previous one
              has as many mappings in live contexts (neither dying nor destroyed) as its last
              page_share said, and a frame mapped in two such places has been page_shared; a
              frame freed since then is no longer mapped in a live context; a frame whose last
              mapping went is freed by the end of the trace; a freed frame is not mapped again
              before a pmm_alloc gives it out.
  recent      the allocator events since the last process event: what a page_fault's outcome
              must be made of (zero_fill: pmm_alloc + vmm_map of that page; stack_grow: also a
              vmm_reserve over it; cow_copy: unmap, map of a new frame, page_share of the old;
              cow_reuse: vmm_protect adding write to a frame no one else maps; refused_* and
              out_of_memory: nothing mapped, then the process is killed).
  resident    process_resident equals the replay's mapped and reserved pages of the context, and
              resident <= reserved (demand paging never maps what is not reserved).

After lost events (a `loss` record) every problem here is a doubt: counted as unchecked, never
reported, since the missing events could explain it.
"""

from collections import deque

from ..definitions.events import FORMAT, PAGE
from ..reading.summary import Problem
from ..definitions.syscalls import EFAULT, ENOSYS, SYSCALL_NAMES, SYSCALL_NUMBERS, errno_of, is_negative

PT_WRITE = FORMAT.value_numbers["PT_WRITE"]
PT_EXECUTE = FORMAT.value_numbers["PT_EXECUTE"]
USER_OWNER = FORMAT.value_numbers["MM_OWNER_USER"]
OUTCOME = FORMAT.values["fault_outcome"]
ACCESS = FORMAT.values["fault_access"]
START_KIND = FORMAT.values["process_start_kind"]
EXIT_REASON = FORMAT.values["process_exit_reason"]
NAMES = FORMAT.value_names
ZERO_FILL, STACK_GROW = NAMES["VMM_FAULT_ZERO_FILL"], NAMES["VMM_FAULT_STACK_GROW"]
COW_COPY, COW_REUSE = NAMES["VMM_FAULT_COW_COPY"], NAMES["VMM_FAULT_COW_REUSE"]
OUT_OF_MEMORY, SPURIOUS = NAMES["VMM_FAULT_OUT_OF_MEMORY"], NAMES["VMM_FAULT_SPURIOUS"]
WRITE, EXECUTE = NAMES["VMM_ACCESS_WRITE"], NAMES["VMM_ACCESS_EXECUTE"]
SPAWN, FORK, EXEC = (NAMES[f"PROCESS_START_{k}"] for k in ("SPAWN", "FORK", "EXEC"))
EXITED = NAMES["PROCESS_EXIT_CALLED"]
KILLED_FAULT = NAMES["PROCESS_EXIT_KILLED_FAULT"]
KILLED_OOM = NAMES["PROCESS_EXIT_KILLED_OUT_OF_MEMORY"]
# u8 fields whose group the reader cannot find by name (analyzer/reader.named_value_groups
# matches a field to a group named like it or `<event>_<field>`): checked here instead.
UNNAMED_VALUE_FIELDS = {("page_fault", "access"): "fault_access",
                        ("page_fault", "outcome"): "fault_outcome",
                        ("process_start", "how"): "process_start_kind"}
# The signal a kill reports as its wait status (events.def: process_exit.status), by reason:
# SIGSEGV for a refused fault, SIGKILL for out of memory (Linux's numbers, issue 18).
SIGSEGV, SIGKILL = 11, 9
KILL_SIGNAL = {KILLED_FAULT: SIGSEGV, KILLED_OOM: SIGKILL}
# What each refused outcome says the backend found at the address.
REFUSALS = {NAMES["VMM_FAULT_REFUSED_OUTSIDE"]: "outside", NAMES["VMM_FAULT_REFUSED_FREE"]: "free",
            NAMES["VMM_FAULT_REFUSED_PROTECTION"]: "reserved"}
# The fault's process is killed for these outcomes, with this exit reason.
KILLING_OUTCOMES = {**{name: KILLED_FAULT for name in REFUSALS}, OUT_OF_MEMORY: KILLED_OOM}
# Calls after which the process may be gone or elsewhere: its syscall event may follow its
# process_exit (exit, exit_group) or name the context it left (execve).
EXITING_CALLS = {SYSCALL_NUMBERS[n] for n in ("exit", "exit_group") if n in SYSCALL_NUMBERS}
EXEC_CALL = SYSCALL_NUMBERS.get("execve")
PROCESS_EVENTS = ("process_start", "process_exit", "page_fault", "syscall")
RECENT_MAX = 512  # allocator events one fault or call causes stay far below this


class Process:
    __slots__ = ("pid", "context", "left", "start")

    def __init__(self, pid, context, start):
        self.pid, self.context, self.start = pid, context, start
        self.left = set()  # contexts this pid left by exec (dying until destroyed)


class Frame:
    __slots__ = ("maps", "announced", "emptied")

    def __init__(self):
        self.maps = set()  # (context, virt) mapping it
        self.announced = None  # the last page_share of it, while it is shared
        self.emptied = None  # the event that removed its last mapping, while it is not freed


class ProcessChecks:
    """Fed every event before the replay's own handler (`feed`); `finish()` at the end."""

    def __init__(self, replay):
        self.replay = replay
        self.processes = {}  # pid -> Process, live ones
        self.owner = {}  # context -> pid of the live process it belongs to
        self.dying = {}  # context -> why it must be destroyed (its pid exited or exec'd)
        self.gone = set()  # destroyed process contexts whose frames may still be freed
        self.process_contexts = set()  # every context a process_start named
        self.frames = {}  # phys -> Frame
        self.freed = set()  # frames freed and not allocated since
        self.changed = set()  # phys of frames mapped or page_shared since the last checkpoint
        self.freed_mapped = []  # (pmm_free, phys, live mappings) since the last checkpoint
        self.recent = deque(maxlen=RECENT_MAX)  # (kind, fields...) since the last process event
        self.kill_due = {}  # pid -> (page_fault event, exit reason it must end with)
        self.destroyed_in_use = {}  # pid -> context_destroy of its context, until its exec
        self._handlers = {name[3:]: getattr(self, name) for name in dir(self)
                          if name.startswith("on_")}

    # ---- plumbing --------------------------------------------------------------------------

    def problem(self, e, text):
        self.replay.doubt(e, text)

    def feed(self, e, kind):
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(e)
        if kind in PROCESS_EVENTS:
            self.recent.clear()
            self.replay.report.process_events_checked += 1

    def finish(self):
        self.checkpoint(None)
        for pid in sorted(self.destroyed_in_use):
            self.check_context_not_in_use(pid)
        self.check_dying_destroyed()
        self.check_frames_released()
        self.check_kills_done()

    def _final(self, text, e=None):
        if e is not None:
            self.problem(e, text)
        elif self.replay.lost:
            self.replay._unchecked()
        else:
            self.replay.report.problems.append(Problem(None, text))

    def _in_process_context(self, context):
        return context in self.process_contexts

    def shares(self, phys):
        """True when `phys` is a frame of a process, whose mappings in several places (a fork's
        copy-on-write, MAP_SHARED) the page_share rules here judge: a rule of the replay that
        a page is mapped once at a time must leave it to them."""
        return phys in self.frames

    def _live(self, maps):
        """The mappings of a frame in contexts neither dying nor destroyed."""
        return sorted(m for m in maps if m[0] not in self.dying and m[0] not in self.gone)

    def checkpoint(self, e):
        """At a syscall or page_fault event (e), or at the end (None): the count changes and
        frees since the previous checkpoint hold now."""
        for free, phys, live in self.freed_mapped:
            still = [m for m in self._live(live) if self.replay.mappings.get(m, (None,))[0] == phys]
            if still:
                self.check_free_unmapped(free, phys, still)
        self.freed_mapped.clear()
        for phys in sorted(self.changed):
            frame = self.frames.get(phys)
            if frame is None:
                continue
            live = self._live(frame.maps)
            if frame.announced is None:
                if len(live) > 1:
                    self.check_sharing_announced(e, phys, live)
            else:
                if len(live) != frame.announced.sharers:
                    self.check_share_count(frame.announced, phys, live)
                if len(live) <= 1:
                    frame.announced = None  # no longer shared
        self.changed.clear()

    # ---- allocator events: remembered for the next fault, and the frame model ----------------

    def on_pmm_alloc(self, e):
        if e.owner == USER_OWNER:
            self.recent.append(("alloc", e.addr, e.addr + e.held * PAGE))
        if self.freed:  # given out again, to whichever owner
            for page in range(e.addr, e.addr + e.held * PAGE, PAGE):
                self.freed.discard(page)

    def on_pmm_alloc_fail(self, e):
        self.recent.append(("alloc_fail",))

    def on_kmalloc_fail(self, e):
        self.recent.append(("alloc_fail",))

    def on_pmm_free(self, e):
        end = e.addr + e.held * PAGE  # the run the allocator gives back (events.def)
        pages = (range(e.addr, end, PAGE) if e.held <= len(self.frames)
                 else [p for p in self.frames if e.addr <= p < end])
        for phys in pages:
            frame = self.frames.pop(phys, None)
            if frame is None:
                continue
            live = self._live(frame.maps)
            if live:  # the kernel frees, then traces the unmap: judged at the checkpoint
                self.freed_mapped.append((e, phys, live))
            self.changed.discard(phys)
            self.freed.add(phys)

    def on_vmm_map(self, e):
        self.check_map_of_freed_frame(e)
        if not self._in_process_context(e.context):
            return
        self.recent.append(("map", e.context, e.virt, e.phys, e.flags))
        frame = self.frames.get(e.phys)
        if frame is None:
            frame = self.frames[e.phys] = Frame()
        frame.maps.add((e.context, e.virt))
        frame.emptied = None
        self.changed.add(e.phys)

    def on_vmm_unmap(self, e):
        if not self._in_process_context(e.context):
            return
        self.recent.append(("unmap", e.context, e.virt, e.phys))
        if self.freed_mapped:
            # the unmap of a page freed since the checkpoint: traced after the free, as the
            # kernel does; what maps that address later (a new allocation) is another mapping
            self.freed_mapped = [(free, phys, [m for m in live if m != (e.context, e.virt)])
                                 if phys == e.phys else (free, phys, live)
                                 for free, phys, live in self.freed_mapped]
        frame = self.frames.get(e.phys)
        if frame is None:
            return
        frame.maps.discard((e.context, e.virt))
        self.changed.add(e.phys)
        if not self._live(frame.maps):
            frame.emptied = e

    def on_vmm_protect(self, e):
        if self._in_process_context(e.context):
            self.recent.append(("protect", e.context, e.virt, e.phys, e.flags))

    def on_vmm_reserve(self, e):
        if self._in_process_context(e.context):
            self.recent.append(("reserve", e.context, e.addr, e.addr + e.pages * PAGE))

    def on_page_share(self, e):
        self.recent.append(("share", e.phys, e.sharers))
        frame = self.frames.get(e.phys)
        if frame is None:
            if e.context in self.process_contexts:
                self.problem(e, f"frame {e.phys:#x} is not mapped in any process context")
            return
        frame.announced = e
        self.changed.add(e.phys)

    def on_context_destroy(self, e):
        if e.context not in self.process_contexts:
            return
        pid = self.owner.get(e.context)
        if pid is not None:  # fine only if an exec moves the pid away next (process.c's order)
            self.destroyed_in_use[pid] = e
        self.dying.pop(e.context, None)
        self.gone.add(e.context)

    # ---- process events ----------------------------------------------------------------------

    def on_process_start(self, e):
        self.check_named_values(e)
        self.check_start(e)
        how = START_KIND.get(e.how)
        process = self.processes.get(e.pid)
        if how == EXEC and process is not None:
            if process.context != e.context:
                process.left.add(process.context)
                self.owner.pop(process.context, None)
                if self.destroyed_in_use.pop(e.pid, None) is None:
                    self.dying[process.context] = (e, f"pid {e.pid} left it by exec")
            process.context = e.context
        else:
            self.processes[e.pid] = Process(e.pid, e.context, e)
        self.owner[e.context] = e.pid
        self.gone.discard(e.context)
        if e.context not in self.process_contexts:
            self.process_contexts.add(e.context)
            self._adopt_mappings(e.context)
        if self.replay.ledgers is not None:
            self.replay.ledgers.process_started(e)

    def _adopt_mappings(self, context):
        """The frames a context mapped before its process_start named it (exec loads the new
        context first)."""
        for virt in self.replay.mapped.get(context, ()):
            phys = self.replay.mappings[context, virt][0]
            frame = self.frames.get(phys)
            if frame is None:
                frame = self.frames[phys] = Frame()
            frame.maps.add((context, virt))
            self.changed.add(phys)

    def on_process_exit(self, e):
        self.check_process_known(e)
        self.check_exit_status(e)
        self.check_kill_reason(e)
        self.kill_due.pop(e.pid, None)
        process = self.processes.pop(e.pid, None)
        if process is not None:
            self.owner.pop(process.context, None)
            self.dying[process.context] = (e, f"pid {e.pid} exited")
        if self.replay.ledgers is not None:
            self.replay.ledgers.process_exited(e)

    def on_page_fault(self, e):
        self.checkpoint(e)
        self.check_named_values(e)
        self.check_process_known(e)
        self.check_no_event_after_kill(e)
        outcome = OUTCOME.get(e.outcome)
        if outcome is None:
            return
        self.check_fault_outcome(e, outcome)
        self.check_fault_leaves_mapping(e, outcome)
        self.check_refusal_reason(e, outcome)
        if outcome in KILLING_OUTCOMES:
            self.kill_due[e.pid] = (e, KILLING_OUTCOMES[outcome])

    def on_syscall(self, e):
        self.checkpoint(e)
        self.check_syscall_number(e)
        self.check_syscall_result(e)
        if e.number not in EXITING_CALLS:
            self.check_process_known(e, also_left=e.number == EXEC_CALL)
            self.check_no_event_after_kill(e)

    def on_process_resident(self, e):
        self.check_process_known(e)
        self.check_resident_counts(e)
        if self.replay.ledgers is not None:
            self.replay.ledgers.resident_counted(e.pid, e.resident_pages, e.reserved_pages)

    # ---- checks: processes and their contexts -------------------------------------------------

    def check_named_values(self, e):
        """page_fault.access and .outcome, process_start.how hold values of their groups."""
        for (event, name), group in UNNAMED_VALUE_FIELDS.items():
            if type(e).__name__ == event and getattr(e, name) not in FORMAT.values[group]:
                self.problem(e, f"{name} {getattr(e, name)} is not a {group} value "
                                f"({', '.join(FORMAT.values[group].values())})")

    def check_start(self, e):
        """spawn and fork start a new pid on a fresh, live context (fork: of a live parent);
        exec keeps a live pid and moves it to another fresh, live context."""
        how = START_KIND.get(e.how)
        live = e.pid in self.processes
        if e.context not in self.replay.contexts and not self.replay.lost:
            self.problem(e, f"context {e.context} is not live")
        elif e.context in self.owner and self.owner[e.context] != e.pid:
            self.problem(e, f"context {e.context} already belongs to pid {self.owner[e.context]}")
        if how in (SPAWN, FORK) and live:
            self.problem(e, f"pid {e.pid} is already running")
        if how == SPAWN and e.parent != 0:
            self.problem(e, f"a spawned process has no parent, this one names {e.parent}")
        if how == FORK and e.parent not in self.processes:
            self.problem(e, f"the parent pid {e.parent} is not running")
        if how == EXEC:
            if not live:
                self.problem(e, f"exec of pid {e.pid}, which is not running")
            elif self.processes[e.pid].context == e.context:
                self.problem(e, f"exec into context {e.context}, the one pid {e.pid} already has")

    def check_process_known(self, e, also_left=False):
        """The event's pid is running and `context` is its context (execve's call may name the
        context it left)."""
        self.check_context_not_in_use(e.pid)
        process = self.processes.get(e.pid)
        if process is None:
            self.problem(e, f"pid {e.pid} is not running")
        elif e.context != process.context and not (also_left and e.context in process.left):
            self.problem(e, f"pid {e.pid} runs in context {process.context}, not {e.context}")

    def check_exit_status(self, e):
        """A kill reports its signal as the status (SIGSEGV for a fault, SIGKILL for out of
        memory); a called exit reports code << 8, so its low byte is 0."""
        reason = EXIT_REASON.get(e.reason)
        if reason in KILL_SIGNAL and e.status != KILL_SIGNAL[reason]:
            self.problem(e, f"{reason} with status {e.status}, not signal {KILL_SIGNAL[reason]}")
        elif reason == EXITED and (e.status & 0xFF or e.status > 0xFFFF):
            self.problem(e, f"a called exit with status {e.status:#x}: not an exit code << 8")

    def check_kill_reason(self, e):
        """A process killed for a fault or out of memory had that fault just before: a refused
        (or out-of-memory) page_fault of the same pid."""
        reason = EXIT_REASON.get(e.reason)
        due = self.kill_due.get(e.pid)
        if due is not None and reason != due[1]:
            self.problem(e, f"pid {e.pid} ends as {reason} after its page_fault "
                            f"{OUTCOME.get(due[0].outcome)} (seq {due[0].seq}): expected {due[1]}")
        elif due is None and reason == KILLED_FAULT:
            self.problem(e, f"pid {e.pid} is killed for a fault without a refused page_fault")

    def check_no_event_after_kill(self, e):
        """After a refused or out-of-memory fault, the process's next event is its process_exit,
        or, when the kernel took the fault on a call's behalf (user_memory.c), that call's
        syscall event failing with -EFAULT."""
        due = self.kill_due.get(e.pid)
        if due is not None and type(e).__name__ == "syscall" and errno_of(e.result) == EFAULT:
            del self.kill_due[e.pid]
        elif due is not None:
            self.problem(e, f"pid {e.pid} goes on after its page_fault "
                            f"{OUTCOME.get(due[0].outcome)} (seq {due[0].seq}), which kills it")
            del self.kill_due[e.pid]

    def check_kills_done(self):
        for pid, (fault, reason) in sorted(self.kill_due.items()):
            self._final(f"pid {pid} never ends after its page_fault {OUTCOME.get(fault.outcome)} "
                        f"(seq {fault.seq}), which must kill it ({reason})")

    def check_context_not_in_use(self, pid):
        """A context is destroyed only once no running process uses it, or just before its
        process's exec moves it to the new one (the pid's next event)."""
        destroy = self.destroyed_in_use.pop(pid, None)
        if destroy is not None:
            self.problem(destroy, f"context {destroy.context} is destroyed while pid {pid} runs "
                                  "in it")

    def check_dying_destroyed(self):
        """Every context a process left (exit, exec) is destroyed by the end."""
        for context, (event, why) in sorted(self.dying.items()):
            self._final(f"context {context} is never destroyed ({why} at seq {event.seq})")

    # ---- checks: system calls -----------------------------------------------------------------

    def check_syscall_number(self, e):
        """A number outside the Linux table can only be an unsupported call: -ENOSYS."""
        if e.number not in SYSCALL_NAMES and errno_of(e.result) != ENOSYS:
            self.problem(e, f"number {e.number} is no Linux x86-64 system call, yet its result "
                            f"is {e.result:#x}, not -ENOSYS")

    def check_syscall_result(self, e):
        """A negative result is -errno, in [-4095, -1] (the Linux ABI)."""
        if is_negative(e.result) and errno_of(e.result) is None:
            self.problem(e, f"{SYSCALL_NAMES.get(e.number, e.number)} returns "
                            f"{e.result - (1 << 64)}, a negative value that is no -errno")

    # ---- checks: page faults ------------------------------------------------------------------

    def check_fault_outcome(self, e, outcome):
        """The allocator events since the previous process event are what the outcome needs."""
        page = e.addr - e.addr % PAGE
        ctx = e.context
        maps = [r for r in self.recent if r[0] == "map" and r[1] == ctx and r[2] == page]
        unmaps = [r for r in self.recent if r[0] == "unmap" and r[1] == ctx and r[2] == page]
        allocated = lambda phys: any(r[0] == "alloc" and r[1] <= phys < r[2]  # noqa: E731
                                     for r in self.recent)
        shared = lambda phys: any(r[0] == "share" and r[1] == phys  # noqa: E731
                                  for r in self.recent)
        where = f"{outcome} at {e.addr:#x} of context {ctx}"
        if outcome in (ZERO_FILL, STACK_GROW):
            if unmaps or not any(allocated(r[3]) for r in maps):
                self.problem(e, f"{where} without a pmm_alloc and vmm_map of that page before it")
            elif outcome == STACK_GROW and not any(
                    r[0] == "reserve" and r[1] == ctx and r[2] <= page < r[3] for r in self.recent):
                self.problem(e, f"{where} without a vmm_reserve over that page before it")
        elif outcome == COW_COPY:
            old = {r[3] for r in unmaps}
            new = [r for r in maps if r[3] not in old and allocated(r[3])]
            if not unmaps or not new or not any(shared(phys) for phys in old):
                self.problem(e, f"{where} without the vmm_unmap of the shared frame, the "
                                "vmm_map of a new one and the page_share of the old before it")
        elif outcome == COW_REUSE:
            protects = [r for r in self.recent if r[0] == "protect" and r[1] == ctx and
                        r[2] == page and r[4] & PT_WRITE]
            frame = self.frames.get(protects[-1][3]) if protects else None
            if maps or frame is None or len(self._live(frame.maps)) != 1:
                self.problem(e, f"{where} without a vmm_protect adding write to a frame no "
                                "other context maps before it")
        elif outcome in KILLING_OUTCOMES or outcome == SPURIOUS:
            if any(r[0] == "map" and r[1] == ctx for r in self.recent):
                self.problem(e, f"{where}, yet a page of that context was mapped just before it")
            elif outcome == OUT_OF_MEMORY and not any(r[0] == "alloc_fail" for r in self.recent):
                self.problem(e, f"{where} without a refused allocation before it")

    def check_fault_leaves_mapping(self, e, outcome):
        """A resolved fault leaves the page mapped, with the access it made allowed."""
        if outcome in KILLING_OUTCOMES or self.replay.lost:
            return
        page = e.addr - e.addr % PAGE
        held = self.replay.mappings.get((e.context, page))
        access = ACCESS.get(e.access)
        if held is None:
            self.problem(e, f"{outcome} at {e.addr:#x}, but context {e.context} does not map "
                            "that page")
        elif (access == WRITE and not held[2] & PT_WRITE) or (
                access == EXECUTE and not held[2] & PT_EXECUTE):
            self.problem(e, f"{outcome} of a {access} at {e.addr:#x} leaves the page mapped "
                            f"without {access} (flags {held[2]:#x})")

    def check_refusal_reason(self, e, outcome):
        """A refusal says what the bookkeeping holds at the address: outside every region, free
        in a region, or reserved (a protection refusal), as the replay has it."""
        if outcome not in REFUSALS:
            return
        ctx = self.replay.contexts.get(e.context)
        if ctx is None or ctx.learned or self.replay.lost:
            return
        region = next((r for r in ctx.regions if r is not None and r.base <= e.addr < r.end),
                      None)
        if region is not None and region.free is None:
            return
        found = ("outside" if region is None else
                 "free" if region.free.covers(e.addr - e.addr % PAGE) else "reserved")
        if found != REFUSALS[outcome]:
            self.problem(e, f"{outcome} at {e.addr:#x}, but the replay has that address "
                            f"{found} in context {e.context}")

    # ---- checks: frames and their sharing -----------------------------------------------------

    def check_share_count(self, e, phys, live):
        """A frame's last page_share (e) states its mappings in live contexts."""
        self.problem(e, f"frame {phys:#x} has {e.sharers} sharers by this page_share, "
                        f"{len(live)} mappings in live contexts by the replay")

    def check_sharing_announced(self, e, phys, live):
        """A frame mapped in two live places has been announced by a page_share."""
        self._final(f"frame {phys:#x} is mapped in {len(live)} places (context {live[0][0]} at "
                    f"{live[0][1]:#x}, context {live[1][0]} at {live[1][1]:#x}) without a "
                    "page_share", e)

    def check_free_unmapped(self, e, phys, live):
        """A frame is freed only when no live context maps it any more (a dying or destroyed
        context's mappings go with the free)."""
        self.problem(e, f"frees frame {phys:#x}, which context {live[0][0]} still maps at "
                        f"{live[0][1]:#x}" + (f" ({len(live)} mappings)" if len(live) > 1 else ""))

    def check_frames_released(self):
        """A frame whose mappings all went (unmapped, page_shared away or its contexts
        destroyed) is freed by the end of the trace."""
        for phys, frame in sorted(self.frames.items()):
            live = [m for m in frame.maps if m[0] not in self.gone]
            if not live:
                how = (f"its last mapping went at seq {frame.emptied.seq}" if frame.emptied
                       else "its contexts were destroyed")
                self._final(f"frame {phys:#x} is never freed ({how})")

    def check_map_of_freed_frame(self, e):
        """A freed frame is mapped again only after a pmm_alloc gives it out."""
        if e.phys in self.freed:
            self.problem(e, f"maps frame {e.phys:#x}, freed and not allocated since")

    # ---- checks: resident and reserved pages --------------------------------------------------

    def check_resident_counts(self, e):
        """resident <= reserved, and both equal the replay's mapped and reserved pages of the
        context."""
        if e.resident_pages > e.reserved_pages:
            self.problem(e, f"{e.resident_pages} resident pages exceed {e.reserved_pages} "
                            "reserved")
        ctx = self.replay.contexts.get(e.context)
        if ctx is None or ctx.learned or self.replay.lost or any(
                r is None or r.free is None or not r.exact for r in ctx.regions):
            return
        mapped = sum(1 << 9 * self.replay.mappings[e.context, v][1]
                     for v in self.replay.mapped.get(e.context, ()))
        reserved = sum(sum(r.reservations.values()) for r in ctx.regions)
        if (mapped, reserved) != (e.resident_pages, e.reserved_pages):
            self.problem(e, f"pid {e.pid}: {e.resident_pages} resident and {e.reserved_pages} "
                            f"reserved pages, the replay of context {e.context} has {mapped} "
                            f"mapped and {reserved} reserved")
