"""Where a trace is in its workload, in terms both backends share.

The workloads issue the same requests whatever the VMM backend (a seeded generator that never
reads allocator state), but the backends take different numbers of instructions for them, so two
traces' clocks drift apart. `requests_issued` counts the workload's own requests up to each record
(kmalloc/kfree, VMM reserves and releases, physical allocations and frees, and the refusals of
each) and leaves out what a backend does for itself (page tables and metadata pages), so plots of
both backends can share an x-axis. The requests are the ones the one replay applied
(state.of(trace).held.requests, analyzer/metrics/ledgers.py states which). Where a request
succeeds under one backend and is refused under the other (memory differs by the backends' own
pages), the one free that follows the success is the only difference.
`member_phases` finds the workloads a composite scenario ran one after another."""

import numpy as np

from . import state


def requests_issued(trace, positions):
    """For each record position, how many workload requests the trace holds up to it."""
    return np.searchsorted(state.of(trace).held.requests, np.asarray(positions, dtype=np.int64),
                           side="right")


def workload_name(trace):
    """The workload a trace ran: its scenario= word, else the kernel's test boot."""
    for word in trace.header.cmdline.split():
        if word.startswith("scenario="):
            return word[len("scenario="):]
    return "test"


def member_phases(trace):
    """[(name, first position, last position)] of the workloads a composite scenario ran one
    after another (`all`: kheap, procs, dma, fragment): the phases that begin and end inside the
    scenario's own phase and are not stages of another (a stage is named "member:stage"). Empty
    for a scenario that runs only itself."""
    scenario = workload_name(trace)
    inside, begins, members = False, {}, []
    for e in trace.others_named("phase_begin", "phase_end"):
        if e.text == scenario:
            inside = e.name == "phase_begin"
        elif inside and ":" not in e.text:
            if e.name == "phase_begin":
                begins[e.text] = e.position
            elif e.text in begins:
                members.append((e.text, begins.pop(e.text), e.position))
    return members
