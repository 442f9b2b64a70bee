/* Host test helpers: a counting, failable page source over the arena, and a page-table auditor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/lib/testing.h"
#include "tests/host/host_env.h"
#include "tests/host/vmm_test_support.h"

static bool page_used(const struct test_source *ts, uint64_t i)
{
	return (ts->used_bits[i / 64] >> (i % 64)) & 1;
}

static void set_used(struct test_source *ts, uint64_t first, uint64_t count, bool used)
{
	for (uint64_t i = first; i < first + count; i++) {
		if (used)
			ts->used_bits[i / 64] |= 1ull << (i % 64);
		else
			ts->used_bits[i / 64] &= ~(1ull << (i % 64));
	}
}

static bool run_free(const struct test_source *ts, uint64_t first, uint64_t count)
{
	for (uint64_t i = first; i < first + count; i++)
		if (page_used(ts, i))
			return false;
	return true;
}

static paddr_t test_alloc(void *cookie, uint64_t pages, uint64_t align_pages, enum mm_owner owner)
{
	struct test_source *ts = cookie;
	if (ts->fail_after && ts->allocations >= ts->fail_after)
		return PAGE_SOURCE_FAILED;
	uint64_t i = ts->search_hint;
	while (i < ts->pages && ts->used_bits[i / 64] == ~0ull && i % 64 == 0)
		i += 64;
	for (i = ALIGN_UP(i, align_pages); i + pages <= ts->pages; i += align_pages) {
		if (!run_free(ts, i, pages))
			continue;
		set_used(ts, i, pages, true);
		if (pages == 1 && align_pages == 1)
			ts->search_hint = i + 1;
		ts->pages_out += pages;
		ts->allocations++;
		ts->allocated_by_owner[owner] += pages;
		paddr_t pa = TEST_ARENA_PHYS_BASE + i * PAGE_SIZE;
		memset(phys_to_virt(pa), 0xA5, pages * PAGE_SIZE);
		return pa;
	}
	return PAGE_SOURCE_FAILED;
}

static void test_free(void *cookie, paddr_t pa, uint64_t pages)
{
	struct test_source *ts = cookie;
	uint64_t first = (pa - TEST_ARENA_PHYS_BASE) / PAGE_SIZE;
	if (pa < TEST_ARENA_PHYS_BASE || first + pages > ts->pages) {
		fprintf(stderr, "test_free: %llx outside the arena\n", (unsigned long long)pa);
		abort();
	}
	for (uint64_t i = first; i < first + pages; i++) {
		if (!page_used(ts, i)) {
			fprintf(stderr, "test_free: page %llx freed twice\n",
				(unsigned long long)(TEST_ARENA_PHYS_BASE + i * PAGE_SIZE));
			abort();
		}
	}
	memset(phys_to_virt(pa), 0x5A, pages * PAGE_SIZE);
	set_used(ts, first, pages, false);
	ts->search_hint = MIN(ts->search_hint, first);
	ts->pages_out -= pages;
}

void test_source_init(struct test_source *ts, uint64_t pages)
{
	*ts = (struct test_source){ .pages = pages };
	ts->arena = host_phys_arena_create(TEST_ARENA_PHYS_BASE, pages * PAGE_SIZE);
	ts->used_bits = calloc((pages + 63) / 64, sizeof(uint64_t));
	ts->source = (struct page_source){ .alloc = test_alloc, .free = test_free, .ctx = ts };
}

void test_source_fini(struct test_source *ts)
{
	free(ts->used_bits);
	host_phys_arena_destroy(ts->arena, ts->pages * PAGE_SIZE);
}

enum vm_status test_kernel_context(struct vmm_context *ctx, struct test_source *ts,
				   enum vmm_backend_kind backend)
{
	struct vmm_config config = {
		.kind = VMM_CONTEXT_KERNEL,
		.backend = backend,
		.source = &ts->source,
		.regions = host_kernel_regions,
		.region_count = HOST_KERNEL_REGION_COUNT,
		.user_regions = host_user_regions,
		.user_region_count = HOST_USER_REGION_COUNT,
		.brk_region = VMM_NO_REGION,
		.shm_region = VMM_NO_REGION,
	};
	return vmm_context_create(ctx, &config);
}

enum vm_status test_user_context(struct vmm_context *ctx, struct vmm_context *kernel,
				 struct test_source *ts, enum vmm_backend_kind backend,
				 const struct vmm_region *regions, unsigned region_count)
{
	struct vmm_config config = {
		.kind = VMM_CONTEXT_USER,
		.backend = backend,
		.source = &ts->source,
		.regions = regions,
		.region_count = region_count,
		.brk_region = regions ? 0 : VMM_UREGION_HEAP,
		.shm_region = regions ? (region_count > 1 ? 1 : VMM_NO_REGION) : VMM_UREGION_SHM,
		.kernel = kernel,
	};
	return vmm_context_create(ctx, &config);
}

void test_slab_arena(struct slab_arena *arena, struct vmm_context *kernel)
{
	enum vm_status st = slab_arena_init(arena, kernel, VMM_KREGION_SLAB);
	if (st != VM_OK) {
		fprintf(stderr, "test_slab_arena: %s\n", vm_status_name(st));
		abort();
	}
}

bool kmem_fixture_init(struct kmem_fixture *f, uint64_t pages, enum vmm_backend_kind backend)
{
	test_source_init(&f->ts, pages);
	if (test_kernel_context(&f->kernel, &f->ts, backend) != VM_OK)
		return false;
	test_slab_arena(&f->slabs, &f->kernel);
	return true;
}

void kmem_fixture_fini(struct kmem_fixture *f)
{
	vmm_context_destroy(&f->kernel);
	test_source_fini(&f->ts);
}

const enum vmm_backend_kind bound_backends[2] = { VMM_BACKEND_LIST, VMM_BACKEND_PAGETABLE };

void worst_work_record(struct worst_work *worst, uint64_t slab, uint64_t slab_bound, uint64_t vmm,
		       uint64_t vmm_bound)
{
	EXPECT_LE(slab, slab_bound);
	EXPECT_LE(vmm, vmm_bound);
	worst->slab = MAX(worst->slab, slab);
	if (vmm > worst->vmm)
		*worst = (struct worst_work){ worst->slab, vmm, vmm_bound };
}

struct audit {
	struct vmm_context *ctx;
	unsigned problems;
	uint64_t leaf_pages;
};

static void audit_leaf(void *cookie, uint64_t va, const struct pt_translation *leaf)
{
	struct audit *a = cookie;
	uint64_t pages = 1ull << (9 * (unsigned)leaf->size);
	a->leaf_pages += pages;
	bool kernel_half = (va >> 63) != 0;
	if ((leaf->prot & PT_WRITE) && (leaf->prot & PT_EXECUTE)) {
		a->problems++;
		testing_fail(__FILE__, __LINE__, "leaf %llx writable and executable", (unsigned long long)va);
	}
	if (kernel_half && (leaf->prot & PT_USER)) {
		a->problems++;
		testing_fail(__FILE__, __LINE__, "kernel leaf %llx user-accessible", (unsigned long long)va);
	}
	struct vmm_query_result q;
	vmm_query(a->ctx, va, &q);
	if (q.state != VMM_PAGE_MAPPED || va + pages * PAGE_SIZE > q.start + q.pages * PAGE_SIZE) {
		a->problems++;
		testing_fail(__FILE__, __LINE__, "leaf %llx not inside a reservation (state %d)",
			     (unsigned long long)va, q.state);
	}
}

unsigned vmm_audit(struct vmm_context *ctx)
{
	struct audit a = { .ctx = ctx };
	pt_for_each_leaf(&ctx->pt, PT_HALF_USER, audit_leaf, &a);
	if (ctx->kind == VMM_CONTEXT_KERNEL)
		pt_for_each_leaf(&ctx->pt, PT_HALF_KERNEL, audit_leaf, &a);
	if (a.leaf_pages != ctx->pt.mapped_pages) {
		a.problems++;
		testing_fail(__FILE__, __LINE__, "leaves cover %llu pages, table says %llu",
			     (unsigned long long)a.leaf_pages, (unsigned long long)ctx->pt.mapped_pages);
	}
	return a.problems;
}

uint64_t test_seed(uint64_t fallback)
{
	const char *env = getenv("VMM_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : fallback;
	return seed ? seed : 1;
}

uint64_t test_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}
