"""Checks every replay_op record (one op of a replayed workload file and its outcome) against the
op codes of trace/workload.def, the outcomes of events.def's replay_op_status and the contexts
the rest of the trace creates and destroys.

What kernel/workload/scenario_replay.c emits, and so what each record must be:
  - op: a workload.def op code; status: a replay_op_status value (the reader checks that one);
  - start, fork, exec, exit carry no range (addr = length = 0); map, unmap, protect and remap
    carry the program's page-aligned range, below WORKLOAD_ADDRESS_LIMIT; brk carries
    addr = the context's heap base + length (length = the heap's new size);
  - status no_context: context 0xFFFF, and the process has no live context; any other status:
    the process's context, which is live (an exit's or a failed exec's was destroyed just before
    its record);
  - a process is bound to one context: by its start, or, for a child, by a fork (the one context
    that fork created) and the child's first op; exec rebinds it to the context just created;
    exit and a failed exec unbind it. A process id with no binding and no fork child to claim is
    a reference to nothing.
"""

from ..definitions.events import FORMAT
from ..definitions.workload_format import C as WORKLOAD_CONSTANTS, WFORMAT

NO_CONTEXT = 0xFFFF
DONE = FORMAT.value_numbers["REPLAY_DONE"]
NO_CONTEXT_STATUS = FORMAT.value_numbers["REPLAY_NO_CONTEXT"]
OPS = {op.code: op.name for op in WFORMAT.ops_by_code.values()}
PROCESS_OPS = {"start", "fork", "exec", "exit"}
RANGE_OPS = {"map", "unmap", "protect", "remap"}
PAGE = WORKLOAD_CONSTANTS["WORKLOAD_PAGE_SIZE"]
ADDRESS_LIMIT = WORKLOAD_CONSTANTS["WORKLOAD_ADDRESS_LIMIT"]
HEAP_REGION = FORMAT.value_numbers["VMM_UREGION_HEAP"]


class ReplayOps:
    """Fed by Replay: `context_created(id)` at each context_create, `check(e)` at each
    replay_op. `replay` gives the live contexts and reports problems (its `doubt`)."""

    def __init__(self, replay):
        self.replay = replay
        self.process_context = {}  # process -> its live (or just destroyed) context
        self.fork_children = set()  # contexts forks created that no process has claimed yet
        self.created = []  # contexts created since the previous replay_op (the kernel's too,
        # before the first)
        self.ops_checked = 0

    def context_created(self, context):
        self.created.append(context)

    def check(self, e):
        created, self.created = self.created, []
        self.ops_checked += 1
        name = OPS.get(e.op)
        if name is None:
            self.replay.problem(e, f"op {e.op} is not a workload op (trace/workload.def has "
                                   f"{', '.join(f'{c} {n}' for c, n in sorted(OPS.items()))})")
            return
        problem = self._range_problem(e, name)
        if problem:
            self.replay.doubt(e, problem)
        if e.status == NO_CONTEXT_STATUS:
            if e.context != NO_CONTEXT:
                self.replay.doubt(e, f"status no-context, but context {e.context} (not 0xffff)")
            elif self.process_context.get(e.pid) in self.replay.contexts:
                self.replay.doubt(e, f"status no-context, but process {e.pid} has context "
                                     f"{self.process_context[e.pid]}")
            return
        problem = self._binding_problem(e, name, created)
        if problem:
            self.replay.doubt(e, problem)

    def _range_problem(self, e, name):
        if name in PROCESS_OPS:
            return None if e.addr == e.length == 0 else \
                f"{name} carries a range ({e.length:#x} bytes at {e.addr:#x}); it has none"
        if name in RANGE_OPS:
            if e.addr % PAGE or e.length % PAGE or e.addr + e.length > ADDRESS_LIMIT:
                return (f"{name} of {e.length:#x} bytes at {e.addr:#x}: not page-aligned or "
                        f"beyond {ADDRESS_LIMIT:#x}")
            return None
        ctx = self.replay.contexts.get(e.context)  # brk
        if ctx is not None and not ctx.learned and HEAP_REGION < len(ctx.regions):
            base = ctx.regions[HEAP_REGION].base
            if e.addr - e.length != base:
                return (f"brk to {e.length:#x} bytes at {e.addr:#x}: the heap of context "
                        f"{e.context} begins at {base:#x}, so it ends at {base + e.length:#x}")
        return None

    def _binding_problem(self, e, name, created):
        live = e.context in self.replay.contexts
        bound = self.process_context.get(e.pid)
        if name == "start":
            if bound is not None and bound in self.replay.contexts:
                return f"process {e.pid} starts again (it has context {bound})"
            if not live or created[-1:] != [e.context]:
                return f"start's context {e.context} is not the one it created"
            self.process_context[e.pid] = e.context
            return None
        if name == "exec":
            if bound is None and not self._claim_destroyed_child():
                return f"process {e.pid} execs without a start or a fork before"
            if e.status != DONE:
                self.process_context.pop(e.pid, None)
                return None if e.context == bound or bound is None else \
                    f"a failed exec names context {e.context}, process {e.pid} had {bound}"
            if not live or created[-1:] != [e.context]:
                return f"exec's context {e.context} is not the one it created"
            self.process_context[e.pid] = e.context
            return None
        if bound is None:
            if e.context not in self.fork_children:
                return (f"process {e.pid} has no context: it never started, and context "
                        f"{e.context} is no fork's child")
            self.fork_children.discard(e.context)
            bound = self.process_context[e.pid] = e.context
        if e.context != bound:
            return f"process {e.pid} has context {bound}, not {e.context}"
        if name == "exit":
            del self.process_context[e.pid]
            return None if not live else f"exit leaves context {e.context} live"
        if not live:
            return f"context {e.context} is not live"
        if name == "fork":
            if e.status == DONE and len(created) != 1:
                return f"fork created {len(created)} contexts, not one"
            # (a fork refused after its child's context was made leaves that child running)
            self.fork_children.update(c for c in created if c in self.replay.contexts)
        return None

    def _claim_destroyed_child(self):
        """A child's first op is an exec, which destroys the context its fork made."""
        gone = next((c for c in self.fork_children if c not in self.replay.contexts), None)
        if gone is None:
            return False
        self.fork_children.discard(gone)
        return True
