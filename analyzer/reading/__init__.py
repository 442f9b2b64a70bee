"""Layer 2, reading: a trace file's bytes into events.

The strict record-by-record reader (reader), the same framing rules evaluated over the whole file
at once with numpy (bulk), and the per-type counts and consistency checks `info` prints (summary).
Imports only definitions.
"""
