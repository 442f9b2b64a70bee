/*
 * Workload scenarios (`scenario=NAME seed=N`): ordinary kernel code over the allocator interfaces
 * (pmm, vmm, slab/kmalloc), driven by a seeded generator (rng.h) so that the same seed issues the
 * same requests under either VMM backend. Sizes scale with the memory the pmm manages (the same
 * figure for both backends), so a 32 MiB and a 16 GiB guest both run a real workload.
 *
 * Each scenario and each of its stages is a phase (phase.h: framed by allocator snapshots); a
 * stage's phase is named "scenario:stage". Allocation failure is an expected outcome: the
 * allocators trace it (pmm_alloc_fail, vmm_reserve_fail, kmalloc_fail) and the scenario counts it
 * and carries on. Only an allocator error that cannot be right (a free refused, a double result)
 * counts as an error and makes the boot exit non-zero.
 *
 * Adding a scenario: one file defining `void scenario_ID(struct scenario_run *)` and one row in
 * SCENARIO_LIST (scenario_list.h).
 */
#ifndef PAGESCOPE_WORKLOAD_SCENARIO_H
#define PAGESCOPE_WORKLOAD_SCENARIO_H

#include "rng.h"
#include "scenario_list.h"

struct scenario_run {
	const char *name;      /* the scenario running (prefix of its stage phases) */
	struct rng rng;        /* seeded from the seed and the scenario's name */
	uint64_t seed;
	uint64_t memory_pages; /* pages the pmm manages: the scale of every size */
	uint64_t requests;     /* allocation requests issued */
	uint64_t failures;     /* of them, refused (an expected, traced outcome) */
	uint64_t errors;       /* allocator results that cannot be right: the run fails */
	bool refused;          /* the scenario refused its input (scenario_refuse) */
};

struct scenario {
	const char *name;
	const char *summary;
	/* Runs the scenario; problems are counted in run->errors (and logged). */
	void (*run)(struct scenario_run *run);
};

/* The table of scenarios, one per row of SCENARIO_LIST. */
extern const struct scenario scenario_table[];
extern const unsigned scenario_count;

/* The scenario called `name`, or NULL. */
const struct scenario *scenario_find(const char *name);

/*
 * Runs scenario `name` as a phase of its own and prints what it did; returns a KERNEL_EXIT_*
 * status (success unless the scenario counted errors or refused its input).
 */
int scenario_run_by_name(const char *name, uint64_t seed);

/* A stage of the running scenario: phase "scenario:stage". */
void scenario_stage_begin(struct scenario_run *run, const char *stage);
void scenario_stage_end(struct scenario_run *run, const char *stage);

/* Counts a request and whether it was refused; returns `succeeded`. */
static inline bool scenario_outcome(struct scenario_run *run, bool succeeded)
{
	run->requests++;
	run->failures += !succeeded;
	return succeeded;
}

/* Logs an allocator result that cannot be right and counts it as an error. */
void scenario_error(struct scenario_run *run, const char *fmt, ...) PRINTF_LIKE(2, 3);

/*
 * A scenario may refuse to run (bad input, e.g. a corrupt workload module): it calls this with
 * the reason; the boot then exits with KERNEL_EXIT_BAD_INPUT instead of a result.
 */
void scenario_refuse(struct scenario_run *run, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* The scenarios (one file each). */
void scenario_kheap(struct scenario_run *run);
void scenario_procs(struct scenario_run *run);
void scenario_dma(struct scenario_run *run);
void scenario_fragment(struct scenario_run *run);
void scenario_replay(struct scenario_run *run);
void scenario_trace_throughput(struct scenario_run *run);
void scenario_program(struct scenario_run *run);
void scenario_bench(struct scenario_run *run);
void scenario_pmm_pairs(struct scenario_run *run);
void scenario_all(struct scenario_run *run);

#endif
