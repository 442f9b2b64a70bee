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

from ..definitions import progressbar
from ..reading.bulk import BulkTrace
from ..reading.reader import TraceError, TraceReader
from ..checking.replay import Replay, ReplayReport
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
    """(first position, last position) of the records a BulkTrace or a run window holds."""
    if hasattr(trace, "whole"):
        return trace.begin, trace.end
    return 0, len(trace.headers) - 1


def load(path):
    """(BulkTrace, State) of a trace file; TraceError (naming the offset) when the file is not a
    well-formed trace or its replay finds a problem."""
    trace = BulkTrace.open(path)
    return trace, replay(trace)


def replay(trace):
    """The State of a BulkTrace: its bytes replayed once, event by event."""
    reader = TraceReader(trace.data, path=trace.path)
    recorder, ledgers = Recorder(), Ledgers()
    recorder.position = -1
    checker = Replay(reader.offset_of, recorder=recorder, ledgers=ledgers)

    def count(record):
        recorder.position += 1  # the record index the next joined event ends at
        ledgers.position = recorder.position

    for event in progressbar.bar(reader.events(on_record=count), total=trace.events_total(),
                                 desc="replay", unit="event"):
        checker.feed(event)
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
