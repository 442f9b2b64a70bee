"""Running totals over a trace, as step functions of the record index (position): page-table
pages, kmalloc bytes, slab bytes, mapped pages per context, and each context's bookkeeping bytes
as the kernel reported it (vmm_bookkeeping). Totals count from the start of the trace, which
begins at the kernel's first instruction, so nothing is missing before it.

Every total is what the one replay held (state.of(trace).held, analyzer/metrics/ledgers.py): the
page-table pages, kmalloc and slab objects and mappings it took and gave back, the bookkeeping
reports it accepted; nothing here pairs or counts the trace's events again."""

from dataclasses import dataclass

import numpy as np

from . import state


@dataclass
class Step:
    """value[i] holds from record positions[i] on; before positions[0] the value is 0."""

    name: str
    unit: str  # "pages", "bytes" or "count"
    positions: np.ndarray
    values: np.ndarray
    context: int = None  # the address-space context it belongs to, if one

    def at(self, query_positions):
        i = np.searchsorted(self.positions, np.asarray(query_positions), side="right") - 1
        return np.where(i >= 0, self.values[np.maximum(i, 0)], 0)


def _cumulative(name, unit, steps):
    """steps: (positions, deltas) in stream order -> the Step of their running sum."""
    positions, deltas = steps
    return Step(name, unit, positions, np.cumsum(deltas))


def running_totals(trace):
    """[Step] of every running total the trace supports."""
    held = state.of(trace).held
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    out = [_cumulative(name, unit, held.totals.get(name, empty)) for name, unit in
           (("page-table pages", "pages"), ("kmalloc bytes", "bytes"), ("slab bytes", "bytes"))]
    for context in sorted(held.mapped):
        step = _cumulative(f"mapped pages ctx{context}", "pages", held.mapped[context])
        step.context = context
        out.append(step)
    out.extend(bookkeeping_steps(trace))
    return out


def bookkeeping_steps(trace):
    """One Step per context id: the bytes its VMM backend reported after each of its snapshots,
    and 0 from each context_destroy of that id on (a dead context holds nothing; its last report
    is the state it died with)."""
    held = state.of(trace).held
    begin, end = state.window(trace)  # a run window of a trace: the reports inside it
    destroyed_at, destroyed = held.destroyed
    steps = []
    for context in sorted(held.bookkeeping):
        reported_at, reported = held.bookkeeping[context]
        inside = (reported_at >= begin) & (reported_at <= end)
        if not inside.any():
            continue
        reported_at, reported = reported_at[inside], reported[inside]
        deaths = destroyed_at[(destroyed == context) & (destroyed_at >= begin) &
                              (destroyed_at <= end)]
        positions = np.concatenate([reported_at, deaths])
        values = np.concatenate([reported, np.zeros(len(deaths), np.int64)])
        order = np.argsort(positions, kind="stable")
        steps.append(Step(f"bookkeeping bytes ctx{context}", "bytes", positions[order],
                          values[order], context))
    return steps


def bookkeeping_totals(trace):
    """(positions, bytes all contexts held after each of them), from bookkeeping_steps, or None
    when the trace has no vmm_bookkeeping event."""
    steps = bookkeeping_steps(trace)
    if not steps:
        return None
    positions = np.unique(np.concatenate([s.positions for s in steps]))
    return positions, sum(s.at(positions) for s in steps)
