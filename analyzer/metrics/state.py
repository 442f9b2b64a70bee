"""The one replay of a trace, and the state every figure, table, Perfetto track and check reads.

    load(path)   -> (BulkTrace, State)     the file read once, checked, replayed once
    replay(trace) -> State                 the same for a BulkTrace already read
    of(trace)    -> State                  the State of a BulkTrace, replayed only the first time

The replay is analyzer/checking/replay.py's, the one `analyzer check` runs: every event in stream order,
every snapshot compared, every free, unmap and switch paired with what it undoes. A trace it
finds a problem in is refused here with the first problem (TraceError, the wording `check` lists
it with), so every subcommand refuses what `check` refuses. While it runs, a timeline.Recorder
watches its free sets, so the exact timelines, the phase-end maps and the final virtual state come
from that one replay and nowhere else, and a ledgers.Ledgers is told what the replay takes and
gives back (allocations, reservations, requests, bookkeeping, processes): the running totals,
attribution, progress and process figures read that (State.held), never the raw columns again. The BulkTrace gives the same events as numpy columns (the
running totals, the request counts, the plots read them); its records are the ones replayed.

Invariants:
  - State.timeline, .phase_ends and .final_virtual describe the replayed state after the events
    they name (timeline.py states the row rules);
  - State.held is what the same replay held (ledgers.py states its rules);
  - of(trace) replays a BulkTrace at most once (the States are kept while the trace lives);
  - State.report is the ReplayReport `check` prints; its problems list is empty (a trace with
    problems raises instead).
"""

import weakref
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..definitions import progressbar
from ..reading.bulk import BulkTrace
from ..reading.reader import TraceError
from ..checking import replay_lane
from ..checking.replay import Replay, ReplayReport
from .gc_paused import gc_paused
from .ledgers import Held, Ledgers
from .timeline import Recorder, Timeline


@dataclass
class State:
    timeline: Timeline  # every change of every zone and region (timeline.py)
    phase_ends: list  # (position, phase name, pmm free runs in bytes) at each phase_end
    final_virtual: dict  # (context, region) -> free runs in bytes at the end, live regions
    report: ReplayReport  # what `check` prints
    held: Held  # what the replay took and gave back, over time (ledgers.py)


# BulkTrace -> its State: every figure of a trace reads the one replay of it.
_STATES = weakref.WeakKeyDictionary()


def of(trace):
    """The State of a BulkTrace: its replay, done the first time it is asked for. A run window
    of a trace (processes.RunWindow) has the State of the whole trace: see window()."""
    trace = getattr(trace, "whole", trace)
    state = _STATES.get(trace)
    return state if state is not None else replay(trace)


def window(trace):
    """(first position, last position) of the records a run window holds; for a whole trace
    every position."""
    if hasattr(trace, "whole"):
        return trace.begin, trace.end
    return 0, np.iinfo(np.int64).max


def load(path):
    """(BulkTrace, State) of a trace file; TraceError (naming the offset) when the file is not a
    well-formed trace or its replay finds a problem."""
    trace = BulkTrace.open(path)
    return trace, replay(trace)


def replay(trace):
    """The State of a BulkTrace: its events replayed once, in stream order."""
    with gc_paused():  # millions of live objects, no garbage cycles: see gc_paused.py
        return _replay(trace)


def _replay(trace):
    offsets, end = trace.offsets, len(trace.data)

    def offset_of(seq):  # a record's seq is its index (BulkTrace checked the sequence)
        return int(offsets[seq]) if 0 <= seq < len(offsets) else end

    recorder, ledgers = Recorder(), Ledgers()
    checker = Replay(offset_of, recorder=recorder, ledgers=ledgers)
    replay_lane.run(checker, trace, progress=partial(
        progressbar.bar, total=trace.events_total(), desc="replay", unit="event"))
    report = checker.finish()
    if report.problems:
        end = len(trace.data)
        problems = sorted((p.at(end) if p.offset is None else p for p in report.problems),
                          key=lambda p: p.offset)
        first = problems[0]
        more = len(problems) - 1
        raise TraceError(f"replay: {first.text}" + (f" (and {more} more problems: `analyzer "
                                                    "check` lists them)" if more else ""),
                         first.offset, trace.path)
    state = State(recorder.finish(), recorder.phase_ends, recorder.final_virtual(), report,
                  ledgers.finish(trace))
    _STATES[trace] = state
    return state
