"""pagescope trace analyzer: reads traces written by the kernel's tracer (see trace/FORMAT.md).

The packages are the analyzer's layers, bottom up; a module imports only from its own layer and
the ones below (tests/python/test_layering.py checks it):

    definitions/  the formats and named values from trace/events.def, units, output files
    reading/      a trace's bytes into events (strict reader, bulk reader, summary)
    checking/     the one replay: every event checked against the kernel's snapshots
    metrics/      the replay's state (state.py runs it) and every figure read from it
    export/       Perfetto, heap profiles, flame-graph stacks, decode, workload conversion
    pictures/     the plots
    reports/      the HTML reports
    __main__.py   the command line (`python3 -m analyzer`)
"""
