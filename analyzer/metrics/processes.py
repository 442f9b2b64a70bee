"""What each user process of a traced program run did, from its events (a BulkTrace): system
calls by name, the unsupported ones (result -ENOSYS), page faults by outcome, peak resident and
reserved pages, the clock ticks each fault took to resolve, and over the run: resident and
reserved pages of all processes, and the VMM backend's bookkeeping bytes in the processes'
contexts. Times are guest seconds since the program's first process_start, so that runs under
different backends (whose boots take different times) line up. A trace of several runs (one boot,
one phase "program:NAME" per run) is taken apart by run (`program_runs`, `select_run`).

Every figure is exact: counts and peaks over every event, percentiles by nearest rank (each is
one measured fault, never an interpolation). Ticks are what the trace's clock counts: guest
instructions under QEMU icount (tick_unit says which, from the header). The events themselves are
checked by `analyzer check` (analyzer/checking/process_replay.py); this module only adds them up.
Which processes ran, how they ended and the pages they held are what the one replay followed
(state.of(trace).held: the process_start, process_exit and process_resident events it accepted,
the resident counts equal to its own), not the trace's columns read again.
"""

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from . import counters, state
from ..definitions.events import FORMAT
from ..definitions.syscalls import ENOSYS, errno_of, syscall_name

OUTCOMES = FORMAT.values["fault_outcome"]
START_KINDS = FORMAT.values["process_start_kind"]
EXECUTED = FORMAT.value_names["PROCESS_START_EXEC"]
FORKED = FORMAT.value_names["PROCESS_START_FORK"]
EXIT_REASONS = FORMAT.values["process_exit_reason"]
# Under QEMU -icount shift=0 the guest TSC advances one tick per instruction and the kernel
# measures it at 1 GHz against the PIT (kernel/core/trace_boot.c): a TSC this close to 1 GHz is
# taken as icount. A clock value named "icount" in events.def, when the kernel has one, says so
# outright.
ICOUNT_HZ, ICOUNT_TOLERANCE = 10**9, 10**-4


def tick_unit(header):
    """What one tick of the trace's clock is, for labels: 'guest instructions' under icount."""
    clock = header.value_name("clock")
    hz = header.clock_hz
    if clock == "icount" or (clock == "tsc" and hz and
                             abs(hz - ICOUNT_HZ) <= ICOUNT_HZ * ICOUNT_TOLERANCE):
        return "guest instructions"
    if clock == "tsc":
        return "TSC ticks"
    return f"{clock} clock ticks"


def tick_unit_source(header):
    """Where tick_unit's answer comes from, one sentence for a report."""
    unit = tick_unit(header)
    if unit == "guest instructions" and header.value_name("clock") != "icount":
        return (f"the guest TSC ran at {header.clock_hz / 1e6:.6f} MHz, i.e. 1 GHz: QEMU icount, "
                "one tick per guest instruction")
    return f"the trace's clock is {header.value_name('clock')} at " + (
        f"{header.clock_hz / 1e6:.3f} MHz" if header.clock_hz else "an unknown frequency")


def nearest_rank(values, percent):
    """The nearest-rank percentile: the smallest sample with at least percent% of the samples
    at or below it (a measured value, never interpolated)."""
    ordered = np.sort(np.asarray(values))
    rank = max(1, int(np.ceil(percent / 100 * len(ordered))))
    return int(ordered[rank - 1])


@dataclass
class TickStats:
    count: int
    median: int = None
    p99: int = None
    maximum: int = None

    @classmethod
    def of(cls, ticks):
        if not len(ticks):
            return cls(0)
        return cls(len(ticks), nearest_rank(ticks, 50), nearest_rank(ticks, 99),
                   int(np.max(ticks)))


@dataclass
class ProcessFigures:
    pid: int
    parent: int
    how: str  # how it started: a `process_start_kind` name (spawned or forked)
    programs: list  # paths it ran, in order (exec adds one)
    contexts: list  # its contexts, in order
    exit_reason: str = None  # None: still running when the trace ended
    exit_status: int = None
    syscalls: Counter = field(default_factory=Counter)  # name -> calls
    unsupported: Counter = field(default_factory=Counter)  # name -> calls that gave -ENOSYS
    faults: Counter = field(default_factory=Counter)  # outcome -> faults
    peak_resident: int = 0
    peak_reserved: int = 0
    fault_ticks: np.ndarray = None
    fault_work: np.ndarray = None
    fault_outcomes: np.ndarray = None  # each fault's `fault_outcome` number, as fault_ticks

    @property
    def label(self):
        return f"pid {self.pid} " + " -> ".join(self.programs)

    @property
    def ending(self):
        if self.exit_reason is None:
            return "running at the end of the trace"
        if self.exit_reason == "exit":
            return f"exit code {self.exit_status >> 8}"
        return f"{self.exit_reason} (signal {self.exit_status})"


@dataclass
class RunFigures:
    """One trace's user processes and run-wide series."""

    path: str
    backend: str
    unit: str  # what a tick is
    unit_source: str
    processes: list  # ProcessFigures by pid
    totals: ProcessFigures  # every process added up (pid 0)
    fault_seconds: np.ndarray  # guest seconds since the first process_start, of every fault
    memory_seconds: np.ndarray  # guest seconds of each resident/reserved change
    resident_pages: np.ndarray  # all processes' resident pages after each change
    reserved_pages: np.ndarray
    bookkeeping_seconds: np.ndarray  # guest seconds of each change of the figure below
    bookkeeping_bytes: np.ndarray  # the processes' contexts' bookkeeping bytes (vmm_bookkeeping)
    seconds_known: bool  # False: the header has no clock frequency, "seconds" are 1e9 ticks


# A boot may run several programs one after another (kernel/workload/scenario_program.c): run
# NAME is then the phase "program:NAME", and its figures are those of the records inside it.
RUN_PHASE_PREFIX = "program:"


class RunWindow:
    """One named run of a several-run trace: a BulkTrace's records from the run's phase_begin to
    its phase_end, with the BulkTrace's interface as far as the figures here use it (`of`,
    `others_named`; header, clock and positions are the whole trace's). `whole` is the trace."""

    def __init__(self, whole, name, begin, end):
        self.whole, self.run, self.begin, self.end = whole, name, begin, end
        self.path = f"{whole.path} (run {name})"

    def __getattr__(self, attribute):
        return getattr(self.whole, attribute)

    def of(self, name):
        events = self.whole.of(name)
        return events[(events["position"] >= self.begin) & (events["position"] <= self.end)]

    def others_named(self, *names):
        return [e for e in self.whole.others_named(*names) if self.begin <= e.position <= self.end]


def program_runs(trace):
    """The named runs of a BulkTrace as RunWindows, in order; [] when the trace is one run."""
    begins, runs = {}, []
    for event in trace.others_named("phase_begin", "phase_end"):
        if not event.text.startswith(RUN_PHASE_PREFIX):
            continue
        name = event.text[len(RUN_PHASE_PREFIX):]
        if event.name == "phase_begin":
            begins[name] = event.position
        elif name in begins:
            runs.append(RunWindow(trace, name, begins.pop(name), event.position))
    return runs


def select_run(trace, name):
    """Run `name` of a several-run trace, or the trace itself when it is one run; ValueError
    when the trace holds named runs but not this one."""
    runs = program_runs(trace)
    if not runs:
        return trace
    for run in runs:
        if run.run == name:
            return run
    raise ValueError(f"{trace.path} holds the runs {', '.join(r.run for r in runs)}, "
                     f"not {name!r}")


def has_processes(trace):
    return bool(trace.others_named("process_start"))


def _followed(trace):
    """(starts [(position, event)], exits (positions, pids, reasons, statuses), resident
    (positions, pids, resident pages, reserved pages)) the one replay accepted, within the run
    when `trace` is a RunWindow."""
    held = state.of(trace).held
    begin, end = state.window(trace)
    starts = [(p, e) for p, e in held.process_starts if begin <= p <= end]
    exits = tuple(np.array(c, dtype=np.int64) for c in zip(*held.process_exits)) \
        if held.process_exits else tuple(np.zeros(0, np.int64) for _ in range(4))
    inside = (exits[0] >= begin) & (exits[0] <= end)
    resident = held.resident
    mine = (resident[0] >= begin) & (resident[0] <= end)
    return starts, tuple(c[inside] for c in exits), tuple(c[mine] for c in resident)


def run_figures(trace):
    """The RunFigures of a BulkTrace (empty lists when it has no user process)."""
    processes = {}
    starts, exits, resident = _followed(trace)
    for _, start in starts:
        how = START_KINDS.get(start.how, str(start.how))
        p = processes.get(start.pid)
        if how == EXECUTED and p is not None:
            p.programs.append(start.text)
            p.contexts.append(start.context)
        else:
            processes[start.pid] = ProcessFigures(start.pid, start.parent, how, [start.text],
                                                  [start.context])
    for pid, reason, status in zip(*(c.tolist() for c in exits[1:])):
        if pid in processes:
            processes[pid].exit_reason = EXIT_REASONS.get(reason, str(reason))
            processes[pid].exit_status = status
    totals = ProcessFigures(0, 0, "", ["all processes"], [])
    calls = trace.of("syscall")
    for pid, number, result in zip(calls["pid"].tolist(), calls["number"].tolist(),
                                   calls["result"].tolist()):
        name = syscall_name(number)
        for p in (processes.get(pid), totals):
            if p is not None:
                p.syscalls[name] += 1
                if errno_of(result) == ENOSYS:
                    p.unsupported[name] += 1
    faults = trace.of("page_fault")
    for pid, outcome in zip(faults["pid"].tolist(), faults["outcome"].tolist()):
        for p in (processes.get(pid), totals):
            if p is not None:
                p.faults[OUTCOMES.get(outcome, str(outcome))] += 1
    for pid, p in processes.items():
        mine = faults["pid"] == pid
        p.fault_ticks, p.fault_work = faults["ticks"][mine], faults["work"][mine]
        p.fault_outcomes = faults["outcome"][mine]
    totals.fault_ticks, totals.fault_work = faults["ticks"], faults["work"]
    totals.fault_outcomes = faults["outcome"]
    for pid, p in processes.items():
        mine = resident[1] == pid
        if mine.any():
            p.peak_resident = int(resident[2][mine].max())
            p.peak_reserved = int(resident[3][mine].max())
    memory_positions, resident_sum, reserved_sum = _memory_totals(resident, exits)
    totals.peak_resident = int(resident_sum.max()) if len(resident_sum) else 0
    totals.peak_reserved = int(reserved_sum.max()) if len(reserved_sum) else 0
    seconds = _seconds(trace, starts[0][0] if starts else 0)
    book_positions, book_bytes = _process_bookkeeping(
        trace, {c for p in processes.values() for c in p.contexts})
    return RunFigures(
        trace.path, trace.header.value_name("vmm_backend"), tick_unit(trace.header),
        tick_unit_source(trace.header), [processes[pid] for pid in sorted(processes)], totals,
        seconds(faults["position"]), seconds(memory_positions), resident_sum, reserved_sum,
        seconds(book_positions), np.asarray(book_bytes), bool(trace.header.clock_hz))


def _seconds(trace, origin):
    """position array -> guest seconds since the record at position `origin`."""
    times = trace.headers["timestamp"]
    zero = trace.time_ns(times[origin:origin + 1])[0] if len(times) else 0.0

    def at(positions):
        positions = np.asarray(positions, dtype=np.int64)
        return (trace.time_ns(times[positions]) - zero) / 1e9 if len(positions) else np.zeros(0)
    return at


def _process_bookkeeping(trace, contexts):
    """(positions, bytes) the given contexts' backends held together after each change, from
    counters.bookkeeping_steps (each context's vmm_bookkeeping reports, 0 once destroyed)."""
    steps = [s for s in counters.bookkeeping_steps(trace)
             if int(s.name.rsplit("ctx", 1)[1]) in contexts]
    if not steps:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    positions = np.unique(np.concatenate([s.positions for s in steps]))
    return positions, sum(s.at(positions) for s in steps)


def _memory_totals(resident, exits):
    """(positions, resident pages, reserved pages) summed over every process after each of its
    process_resident events; a process's pages count from its event to its process_exit."""
    positions = np.concatenate([resident[0], exits[0]])
    pids = np.concatenate([resident[1], exits[1]])
    res = np.concatenate([resident[2], np.zeros(len(exits[0]), np.int64)])
    rsv = np.concatenate([resident[3], np.zeros(len(exits[0]), np.int64)])
    order = np.argsort(positions, kind="stable")
    current_res, current_rsv, out_res, out_rsv = {}, {}, [], []
    total_res = total_rsv = 0
    for i in order.tolist():
        pid = int(pids[i])
        total_res += int(res[i]) - current_res.get(pid, 0)
        total_rsv += int(rsv[i]) - current_rsv.get(pid, 0)
        current_res[pid], current_rsv[pid] = int(res[i]), int(rsv[i])
        out_res.append(total_res)
        out_rsv.append(total_rsv)
    return positions[order], np.array(out_res, np.int64), np.array(out_rsv, np.int64)


# What must be the same under every backend (issue 18): each process's calls with their
# arguments and results, and its faults with their address, access and outcome, in stream order.
# The backend's lookup work and the ticks are what differ, so they are left out.
SEQUENCE_FIELDS = {"syscall": ("pid", "number", "arg0", "arg1", "arg2", "arg3", "arg4", "arg5",
                               "result"),
                   "page_fault": ("pid", "addr", "rip", "access", "outcome")}


def behaviour(trace):
    """[(position, event name, fields)] of the trace's calls and faults in stream order."""
    out = []
    for name, names in SEQUENCE_FIELDS.items():
        a = trace.of(name)
        columns = [a[f].tolist() for f in names]
        out.extend((p, name, values) for p, values in zip(a["position"].tolist(), zip(*columns)))
    out.sort(key=lambda item: item[0])
    return out


def _describe(item):
    _, name, values = item
    text = ", ".join(f"{k}={v:#x}" if k in ("addr", "rip") or k.startswith("arg") else f"{k}={v}"
                     for k, v in zip(SEQUENCE_FIELDS[name], values))
    return f"{name}({text})"


def first_behaviour_difference(a, b):
    """None when BulkTraces a and b hold the same calls and faults in the same order, else a
    sentence naming the first difference."""
    sa, sb = behaviour(a), behaviour(b)
    for n, (x, y) in enumerate(zip(sa, sb)):
        if x[1:] != y[1:]:
            return f"event {n} of the calls and faults differs: {_describe(x)} vs {_describe(y)}"
    if len(sa) != len(sb):
        return f"{len(sa)} calls and faults vs {len(sb)}"
    return None
