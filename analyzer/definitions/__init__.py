"""Layer 1, definitions: what every other layer takes as given and nothing here reads a trace.

The trace and workload formats and their named values, parsed from trace/events.def and
trace/workload.def (events, workload_format, syscalls from trace/linux_syscalls.def); units and
number formatting (units); how every output file is written (output); the progress bar
(progressbar); the protobuf wire encoding (perfetto_wire); code lines counted from the C source
(source_lines). Imports nothing from the analyzer's other layers.
"""
