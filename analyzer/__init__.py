"""pagescope trace analyzer: reads traces written by the kernel's tracer (see trace/FORMAT.md).

Modules: events (the format, parsed from trace/events.def), reader (framing, decoding and
validation), summary (per-type counts and consistency checks), replay (every allocator event
checked against the kernel's snapshots), output (atomic output files), __main__ (the command
line).
"""
