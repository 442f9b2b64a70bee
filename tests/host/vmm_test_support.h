/*
 * Host test helpers for the VMM, page tables, slab and kmalloc: a page source over the host
 * "physical memory" arena that counts pages out and in and can be told to fail, and an auditor
 * that checks a context's page tables against the VMM's rules.
 */
#ifndef PAGESCOPE_TESTS_HOST_VMM_TEST_SUPPORT_H
#define PAGESCOPE_TESTS_HOST_VMM_TEST_SUPPORT_H

#include "kernel/mm/vmm.h"
#include "kernel/mm/slab.h"
#include "tests/host/host_regions.h"

#define TEST_ARENA_PHYS_BASE 0x40000000ull /* 1 GiB: large-page-aligned physical addresses */

/* A first-fit page allocator over a bitmap of the arena; fills pages with junk when handed out. */
struct test_source {
	struct page_source source;
	void *arena;
	uint64_t pages;
	uint64_t *used_bits;
	uint64_t search_hint;  /* no free page below this index */
	uint64_t pages_out;    /* pages currently handed out */
	uint64_t allocations;  /* successful calls so far */
	uint64_t fail_after;   /* allocations allowed before every call fails; 0 = never fail */
	uint64_t allocated_by_owner[MM_OWNER_COUNT]; /* pages handed out so far, by owner tag */
};

/* Creates the arena (one at a time) and the source; `pages` of "RAM". */
void test_source_init(struct test_source *ts, uint64_t pages);
void test_source_fini(struct test_source *ts);

/* A kernel context over host_kernel_regions, with host_user_regions as its user layout. */
enum vm_status test_kernel_context(struct vmm_context *ctx, struct test_source *ts,
				   enum vmm_backend_kind backend);
/*
 * A user context over `regions` (NULL: the kernel context's user layout, brk in VMM_UREGION_HEAP,
 * shm in VMM_UREGION_SHM); with a table, brk in region 0, shm in region 1 (if any).
 */
enum vm_status test_user_context(struct vmm_context *ctx, struct vmm_context *kernel,
				 struct test_source *ts, enum vmm_backend_kind backend,
				 const struct vmm_region *regions, unsigned region_count);

/* A slab arena over the kernel context's VMM_KREGION_SLAB. */
void test_slab_arena(struct slab_arena *arena, struct vmm_context *kernel);

/* What a slab or kmalloc test runs on: a page source, a kernel context over it, its slab arena. */
struct kmem_fixture {
	struct test_source ts;
	struct vmm_context kernel;
	struct slab_arena slabs;
};

/* Builds all three over `pages` of "RAM"; false when the kernel context cannot be created. */
bool kmem_fixture_init(struct kmem_fixture *f, uint64_t pages, enum vmm_backend_kind backend);
/* Destroys the kernel context, then the source. */
void kmem_fixture_fini(struct kmem_fixture *f);

/* The backends every stated-bound test of slab and kmalloc runs on. */
extern const enum vmm_backend_kind bound_backends[2];

/* The worst slab and VMM work seen for one kind of call, with the VMM bound it was held to. */
struct worst_work {
	uint64_t slab, vmm, vmm_bound;
};

/* One call's work: EXPECTs it within its slab and VMM bounds, and keeps the worst in *worst. */
void worst_work_record(struct worst_work *worst, uint64_t slab, uint64_t slab_bound, uint64_t vmm,
		       uint64_t vmm_bound);

/*
 * Audits a context: no leaf writable and executable, no kernel-half leaf user-accessible, every
 * mapped page inside a reservation, pt.mapped_pages equal to the leaves. Reports through EXPECT.
 * Returns the number of problems found.
 */
unsigned vmm_audit(struct vmm_context *ctx);

/* Seed from VMM_SEED if set, else `fallback`; testing_note()s it. */
uint64_t test_seed(uint64_t fallback);
/* xorshift64* */
uint64_t test_random(uint64_t *state);

#endif
