/*
 * Adversarial layouts for the VMM bookkeeping backends, shared by the host tests (small, with the
 * bound asserted per operation) and bench_vmm (at 1 000 000 mapped pages, for the figures in
 * benchmarks/README.md). Each pattern lays out reservations in one region of a user context, then
 * sends the requests that layout is hard for, and measures every operation's backend work against
 * the bound the backend states (vmm_backend_ops.work_bound).
 */
#ifndef PAGESCOPE_TESTS_HOST_VMM_PATTERNS_H
#define PAGESCOPE_TESTS_HOST_VMM_PATTERNS_H

#include "kernel/mm/vmm.h"

/* The one region every pattern works in: 1 TiB at 1 TiB. */
extern const struct vmm_region vmm_pattern_region;

struct vmm_pattern_stats {
	uint64_t ops;             /* reserve / reserve_at / release calls measured */
	uint64_t worst_work;      /* the most backend work of one of them */
	uint64_t worst_bound;     /* the bound stated for that operation */
	uint64_t worst_request;   /* the most work of one of the pattern's requests (its reserves) */
	uint64_t request_bound;   /* the bound stated for that request */
	uint64_t over_bound;      /* operations whose work exceeded their bound */
	uint64_t wrong_answers;   /* requests placed elsewhere than the layout says they must be */
	uint64_t mapped_pages;    /* mapped when the requests ran */
};

struct vmm_pattern {
	const char *name;
	const char *what;
	/* Lays out the pattern after `packed_pages` mapped pages, sends its requests, undoes it all. */
	void (*run)(struct vmm_context *ctx, uint64_t packed_pages, uint64_t scale,
		    struct vmm_pattern_stats *stats);
};

extern const struct vmm_pattern vmm_patterns[];
extern const unsigned vmm_pattern_count;

#endif
