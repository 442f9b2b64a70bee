"""Layer 5, export and conversion: the metrics written in other tools' formats.

Perfetto traces (perfetto, perfetto_processes, perfetto_proto over proto/pagescope_perfetto.proto),
heap profiles (heap_profile), folded stacks for flame graphs (flamegraph), the decoded event listing
(decode), and the strace-to-workload converter (workload). Imports the layers below only.
"""
