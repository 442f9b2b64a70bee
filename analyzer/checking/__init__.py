"""Layer 3, checking: the one replay.

Every allocator, kmalloc, slab, page-table, mapping and user-process event replayed against the
kernel's own snapshots (replay, with replay_ops and process_replay); the first disagreement is the
trace's problem. `check` runs it over the strict reader; metrics/state.py runs the very same replay
for every other command. Imports only definitions and reading.
"""
