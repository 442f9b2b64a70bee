/*
 * The one list of scenarios: each row is (C identifier, command-line name, summary). The kernel
 * builds its table of scenario functions from it (scenario.c: row `id` runs scenario_<id>); the
 * command-line parser checks names against it (scenario_names.c, compiled into host tests too).
 * A new scenario is one row here and one file defining scenario_<id>.
 */
#ifndef PAGESCOPE_WORKLOAD_SCENARIO_LIST_H
#define PAGESCOPE_WORKLOAD_SCENARIO_LIST_H

#include "kernel/lib/compiler.h"

#define SCENARIO_LIST(X)                                                                           \
	X(kheap, "kheap", "kmalloc/kfree churn: heavy-tailed sizes and lifetimes")                   \
	X(procs, "procs", "simulated processes: segments, stacks, brk, mmap, shared memory, switches") \
	X(dma, "dma", "contiguous buffers of many sizes, alignments and zones amid page churn")      \
	X(fragment, "fragment", "fill memory, free a pattern, find the largest run each zone gives")  \
	X(replay, "replay", "replay the workload file given as a multiboot2 module")                 \
	X(all, "all", "kheap, procs, dma and fragment in sequence")                                   \
	X(trace_throughput, "trace-throughput", "push 4 MiB of filler records through the trace transport") \
	X(bench, "bench", "allocator benchmarks in guest instructions (boot under -icount)")             \
	X(pmm_pairs, "pmm-pairs", "guest instructions per pmm alloc+free pair: median, p99, worst (-icount)") \
	X(program, "program", "run the static Linux program of the module filesystem (a cpio module)")

/* True when `name` is a scenario of the list. */
bool scenario_name_known(const char *name);
/* "kheap, procs, ..." for messages naming what is known. */
const char *scenario_names(void);

#endif
