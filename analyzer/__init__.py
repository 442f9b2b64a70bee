"""pagescope trace analyzer: reads traces written by the kernel's tracer (see trace/FORMAT.md).

Modules: events (the format, parsed from trace/events.def), reader (framing and decoding),
summary (per-type counts and consistency checks), __main__ (the command line).
"""
