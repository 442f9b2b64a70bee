/*
 * The address spaces the VMM benchmarks measure in: a kernel context over the host's kernel
 * regions and one user context of its family over the host's user regions (tests/host/
 * host_regions.h), both with the chosen backend and taking their pages from one source. Setting
 * them up is not measured; a failure ends the program with the benchmark's name and the status.
 */
#ifndef PAGESCOPE_BENCHMARKS_VMM_CONTEXTS_H
#define PAGESCOPE_BENCHMARKS_VMM_CONTEXTS_H

#include <stdbool.h>

#include "kernel/mm/vmm.h"

struct vmm_contexts {
	struct vmm_context kernel;
	struct vmm_context user; /* in kernel's family: the struct must not move while open */
};

/* Creates both contexts (the user one demand paged when asked), or exits naming `program`. */
void vmm_contexts_open(struct vmm_contexts *c, enum vmm_backend_kind backend,
			 const struct page_source *source, bool demand_paged, const char *program);
/* Destroys both, the user context first (it shares the kernel context's upper half). */
void vmm_contexts_close(struct vmm_contexts *c);

#endif
