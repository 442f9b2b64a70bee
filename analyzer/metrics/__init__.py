"""Layer 4, metrics: the state the one replay established and the figures computed from it.

state runs the replay once per trace and keeps what it saw (timelines, free extents, attribution);
every other module here reads that state: fragmentation (frag), exact timelines (timeline),
counters, progress, processes, attribution, mmstat, compare, the verdict (verdict,
verdict_figures). Imports definitions, reading and checking.
"""
