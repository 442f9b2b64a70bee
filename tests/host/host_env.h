/* Host-only helpers for tests and benchmarks of the arch-free mm core. */
#ifndef PAGESCOPE_TESTS_HOST_ENV_H
#define PAGESCOPE_TESTS_HOST_ENV_H

#include "kernel/mm/mm_env.h"

/*
 * Maps `bytes` of host memory to stand for physical addresses [phys_base, phys_base + bytes) and
 * points phys_to_virt() at it. One arena at a time.
 */
void *host_phys_arena_create(paddr_t phys_base, uint64_t bytes);
void host_phys_arena_destroy(void *arena, uint64_t bytes);

/* What the host's mm_arch_* hooks recorded: invalidation count and the last root activated. */
extern uint64_t host_invalidations;
extern paddr_t host_active_root;

#endif
