"""A context in which Python's cyclic garbage collector does not run.

Why: the one replay and the frag CSV allocate millions of small objects (events, rows, tuples)
that stay alive until the step ends. Every few thousand allocations the collector runs, and its
full passes walk every live object again: at 1,000,000 events that was about 20 % of the replay's
and the CSV's CPU time (benchmarks/analyzer_throughput.py), for nothing, since these objects form
no garbage cycles. Reference counting still frees everything as usual; cycles made inside the
context are collected at the next collection after it.

Invariant: the collector's enabled/disabled state after the context is what it was before (a
context nested in another, or entered with the collector already off, leaves it off).
"""

import gc
from contextlib import contextmanager


@contextmanager
def gc_paused():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
