/* Host tests of kernel/mm/vmm.c and both bookkeeping backends, rule by rule. */
#include <machine/pte.h>
#include "kernel/arch/amd64/vm.h"
#include "kernel/lib/testing.h"
#include "tests/host/host_env.h"
#include "tests/host/vmm_test_support.h"

/* Small regions: a heap, one crossing a 1 GiB boundary, one crossing a 512 GiB boundary. */
static const struct vmm_region small_regions[] = {
	{ "heap", 0x400000, 2048, MM_OWNER_USER },
	{ "cross-1g", 0x3FF00000, 4096, MM_OWNER_USER },
	{ "cross-512g", 0x7F80000000, 1ull << 20, MM_OWNER_USER },
};

struct vmm_fixture {
	struct test_source ts;
	struct vmm_context kernel, user;
	enum vmm_backend_kind backend;
};

static bool fixture_init(struct vmm_fixture *f, enum vmm_backend_kind backend, uint64_t ram_pages)
{
	f->backend = backend;
	test_source_init(&f->ts, ram_pages);
	return test_kernel_context(&f->kernel, &f->ts, backend) == VM_OK &&
	       test_user_context(&f->user, &f->kernel, &f->ts, backend, small_regions,
				 ARRAY_SIZE(small_regions)) == VM_OK;
}

static void fixture_fini(struct vmm_fixture *f)
{
	EXPECT_EQ(vmm_audit(&f->user), 0);
	EXPECT_EQ(vmm_audit(&f->kernel), 0);
	EXPECT_EQ(f->user.backend->self_check(&f->user), 0);
	EXPECT_EQ(f->kernel.backend->self_check(&f->kernel), 0);
	vmm_context_destroy(&f->user);
	vmm_context_destroy(&f->kernel);
	EXPECT_EQ(f->ts.pages_out, 0);
	test_source_fini(&f->ts);
}

typedef void (*backend_test)(struct vmm_fixture *f);

static void run_on_both_backends(backend_test body)
{
	static const enum vmm_backend_kind backends[] = { VMM_BACKEND_PAGETABLE, VMM_BACKEND_LIST };
	for (unsigned i = 0; i < ARRAY_SIZE(backends); i++) {
		struct vmm_fixture f;
		if (!fixture_init(&f, backends[i], 8192)) {
			testing_fail(__FILE__, __LINE__, "fixture for %s", vmm_backend_kind_name(backends[i]));
			return;
		}
		body(&f);
		if (testing_current_failed())
			testing_note("backend %s", vmm_backend_kind_name(backends[i]));
		fixture_fini(&f);
	}
}

static uint64_t reserve(struct vmm_fixture *f, unsigned region, uint64_t pages, uint64_t align)
{
	uint64_t addr = 0;
	EXPECT_EQ(vmm_reserve(&f->user, region, pages, align, &addr), VM_OK);
	return addr;
}

static void first_fit_body(struct vmm_fixture *f)
{
	uint64_t base = small_regions[1].base;
	EXPECT_EQ(reserve(f, 1, 3, 1), base);
	EXPECT_EQ(reserve(f, 1, 1, 1), base + 3 * PAGE_SIZE);
	EXPECT_EQ(reserve(f, 1, 4, 4), base + 4 * PAGE_SIZE);
	EXPECT_EQ(reserve(f, 1, 1, 256), 0x40000000); /* first 256-page boundary is at 1 GiB */
	EXPECT_EQ(vmm_release(&f->user, base + 3 * PAGE_SIZE, 1), VM_OK);
	EXPECT_EQ(reserve(f, 1, 2, 1), base + 8 * PAGE_SIZE); /* the 1-page hole is too small */
	EXPECT_EQ(reserve(f, 1, 1, 1), base + 3 * PAGE_SIZE); /* and is the lowest fit for one page */
	uint64_t addr;
	EXPECT_EQ(vmm_reserve(&f->user, 1, 5000, 1, &addr), VM_ERR_INVALID);
	EXPECT_EQ(vmm_reserve(&f->user, 1, 3900, 1, &addr), VM_ERR_NO_SPACE);
	EXPECT_EQ(vmm_reserve(&f->user, 1, 1, 3, &addr), VM_ERR_INVALID);
}

/* Reservations go to the lowest address that fits, honouring alignment, on both backends. */
TEST(vmm_reserve_is_lowest_address_first_fit)
{
	run_on_both_backends(first_fit_body);
}

/*
 * An aligned request takes the lowest run of pages + align - 1 pages, never a shorter run that
 * happens to hold it at an aligned address (one search, whatever the layout: vmm.c's policy).
 */
static void aligned_padding_body(struct vmm_fixture *f)
{
	uint64_t base = small_regions[0].base; /* 0x400000: 1024-page aligned, 2048 pages */
	uint64_t hole = base + 512 * PAGE_SIZE; /* a 512-aligned, 4-page hole */
	EXPECT_EQ(vmm_reserve_at(&f->user, base, 512), VM_OK);
	EXPECT_EQ(vmm_reserve_at(&f->user, hole + 4 * PAGE_SIZE, 508), VM_OK);
	/* free: the hole, then [base + 1024 pages, base + 2048 pages) */
	EXPECT_EQ(reserve(f, 0, 4, 512), base + 1024 * PAGE_SIZE); /* padded to 515: past the hole */
	EXPECT_EQ(reserve(f, 0, 4, 512), base + 1536 * PAGE_SIZE); /* run [1028, 2048): its 1536 */
	uint64_t addr; /* runs of 508 pages left, and the hole: none has 515 */
	EXPECT_EQ(vmm_reserve(&f->user, 0, 4, 512, &addr), VM_ERR_NO_SPACE);
	EXPECT_EQ(reserve(f, 0, 4, 1), hole); /* unaligned, the tight hole is the lowest fit */
	EXPECT_EQ(vmm_release(&f->user, hole, 4), VM_OK);
	EXPECT_EQ(vmm_reserve_at(&f->user, hole, 4), VM_OK); /* exact placement is the caller's */
	EXPECT_EQ(vmm_release(&f->user, hole, 4), VM_OK);
	EXPECT_EQ(vmm_release(&f->user, base + 1024 * PAGE_SIZE, 4), VM_OK);
	EXPECT_EQ(vmm_release(&f->user, base + 1536 * PAGE_SIZE, 4), VM_OK);
	EXPECT_EQ(vmm_release(&f->user, hole + 4 * PAGE_SIZE, 508), VM_OK);
	EXPECT_EQ(vmm_release(&f->user, base, 512), VM_OK);
}

/* Aligned placement pads the search instead of testing short runs one by one (both backends). */
TEST(vmm_aligned_reserve_takes_the_lowest_padded_run)
{
	run_on_both_backends(aligned_padding_body);
}

static void release_errors_body(struct vmm_fixture *f)
{
	uint64_t a = reserve(f, 0, 4, 1), b = reserve(f, 0, 2, 1);
	EXPECT_EQ(vmm_release(&f->user, a + PAGE_SIZE, 3), VM_ERR_NOT_RESERVATION_START);
	EXPECT_EQ(vmm_release(&f->user, a, 3), VM_ERR_WRONG_LENGTH);
	EXPECT_EQ(vmm_release(&f->user, a, 5), VM_ERR_WRONG_LENGTH);
	EXPECT_EQ(vmm_release(&f->user, a, 6), VM_ERR_WRONG_LENGTH);
	EXPECT_EQ(vmm_release(&f->user, b + 2 * PAGE_SIZE, 1), VM_ERR_NOT_RESERVED);
	struct vmm_query_result q;
	vmm_query(&f->user, a, &q);
	EXPECT_EQ(q.state, VMM_PAGE_RESERVED);
	EXPECT_EQ(q.start, a);
	EXPECT_EQ(q.pages, 4);
	EXPECT_EQ(vmm_release(&f->user, a, 4), VM_OK);
	EXPECT_EQ(vmm_release(&f->user, a, 4), VM_ERR_NOT_RESERVED);
	vmm_query(&f->user, b + PAGE_SIZE, &q);
	EXPECT_EQ(q.state, VMM_PAGE_RESERVED);
	EXPECT_EQ(q.start, b);
	EXPECT_EQ(q.pages, 2);
	EXPECT_EQ(vmm_release(&f->user, 0x1000, 1), VM_ERR_INVALID);
}

/* Double release, a start inside, and a wrong length are errors that change nothing. */
TEST(vmm_release_rejects_bad_requests_without_change)
{
	run_on_both_backends(release_errors_body);
}

static void query_body(struct vmm_fixture *f)
{
	const struct vmm_region *r = &small_regions[1];
	uint64_t a = reserve(f, 1, 10, 1);
	uint64_t b = reserve(f, 1, 600, 1);
	EXPECT_EQ(vmm_release(&f->user, a, 10), VM_OK);
	struct vmm_query_result q;
	vmm_query(&f->user, a + 5 * PAGE_SIZE, &q);
	EXPECT_EQ(q.state, VMM_PAGE_FREE);
	EXPECT_EQ(q.start, r->base);
	EXPECT_EQ(q.pages, 10);
	vmm_query(&f->user, b + 599 * PAGE_SIZE, &q);
	EXPECT_EQ(q.state, VMM_PAGE_RESERVED);
	EXPECT_EQ(q.start, b);
	EXPECT_EQ(q.pages, 600);
	vmm_query(&f->user, b + 600 * PAGE_SIZE, &q);
	EXPECT_EQ(q.state, VMM_PAGE_FREE);
	EXPECT_EQ(q.start, b + 600 * PAGE_SIZE);
	EXPECT_EQ(q.pages, r->pages - 610);
	EXPECT_EQ(vmm_map_anonymous(&f->user, b + 3 * PAGE_SIZE, 1, PT_READ | PT_USER), VM_OK);
	vmm_query(&f->user, b + 3 * PAGE_SIZE, &q);
	EXPECT_EQ(q.state, VMM_PAGE_MAPPED);
	EXPECT_EQ(q.pages, 600);
	vmm_query(&f->user, 0x1000, &q);
	EXPECT_EQ(q.state, VMM_PAGE_OUTSIDE);
}

/* query reports free runs clipped to the region, whole reservations, and mapped pages. */
TEST(vmm_query_reports_state_and_extent)
{
	run_on_both_backends(query_body);
}

static void map_rules_body(struct vmm_fixture *f)
{
	uint64_t a = reserve(f, 1, 8, 1);
	EXPECT_EQ(vmm_map(&f->user, a + 8 * PAGE_SIZE, 0x80000000, 1, PT_PAGE_4K, PT_READ), VM_ERR_NOT_RESERVED);
	EXPECT_EQ(vmm_map(&f->user, a + 6 * PAGE_SIZE, 0x80000000, 3, PT_PAGE_4K, PT_READ), VM_ERR_NOT_RESERVED);
	EXPECT_EQ(vmm_map_anonymous(&f->user, a, 2, PT_READ | PT_WRITE | PT_EXECUTE), VM_ERR_WRITE_EXECUTE);
	EXPECT_EQ(vmm_map_anonymous(&f->user, a, 2, PT_READ | PT_WRITE | PT_USER), VM_OK);
	EXPECT_EQ(vmm_map_anonymous(&f->user, a + PAGE_SIZE, 2, PT_READ | PT_USER), VM_ERR_EXISTS);
	EXPECT_EQ(f->user.pt.mapped_pages, 2); /* the failed call rolled back its page */
	EXPECT_EQ(vmm_protect(&f->user, a, 2, PT_READ | PT_EXECUTE | PT_USER), VM_OK);
	uint64_t before = host_invalidations;
	EXPECT_EQ(vmm_unmap(&f->user, a, 8), VM_OK);
	EXPECT_EQ(host_invalidations - before, 2);
	EXPECT_EQ(vmm_release(&f->user, a, 8), VM_OK);
}

/* Mappings need a reservation, refuse W^X, are all or nothing and invalidate when removed. */
TEST(vmm_map_requires_reservation_and_refuses_write_execute)
{
	run_on_both_backends(map_rules_body);
}

static void large_page_body(struct vmm_fixture *f)
{
	uint64_t a = reserve(f, 2, 1024, 512);
	EXPECT_TRUE(IS_ALIGNED(a, PT_SPAN_BYTES(1)));
	EXPECT_EQ(vmm_map(&f->user, a, 0x80000000, 2, PT_PAGE_2M, PT_READ | PT_USER), VM_OK);
	struct pt_translation t;
	EXPECT_EQ(pt_translate(&f->user.pt, a + PT_SPAN_BYTES(1) + 5, &t), VM_OK);
	EXPECT_EQ(t.size, PT_PAGE_2M);
	struct vmm_query_result q;
	vmm_query(&f->user, a + 700 * PAGE_SIZE, &q);
	EXPECT_EQ(q.state, VMM_PAGE_MAPPED);
	EXPECT_EQ(q.start, a);
	EXPECT_EQ(q.pages, 1024);
	EXPECT_EQ(vmm_release(&f->user, a, 1024), VM_OK);
	EXPECT_EQ(f->user.pt.mapped_pages, 0);
}

/* A 2 MiB-aligned reservation takes 2 MiB pages; releasing it unmaps them. */
TEST(vmm_maps_large_pages_in_reservations)
{
	run_on_both_backends(large_page_body);
}

/* The pagetable backend marks whole 1 GiB / 2 MiB chunks high up: a huge reservation needs no leaf tables. */
TEST(vmm_pagetable_backend_marks_large_reservations_without_leaf_tables)
{
	struct vmm_fixture f;
	ASSERT_TRUE(fixture_init(&f, VMM_BACKEND_PAGETABLE, 4096));
	uint64_t tables = f.user.pt.table_pages;
	uint64_t a = reserve(&f, 2, 1ull << 19, 1); /* 2 GiB, across a 512 GiB boundary */
	EXPECT_EQ(a, small_regions[2].base);
	EXPECT_LE(f.user.pt.table_pages - tables, 2); /* one PDPT per side of the boundary */
	uint64_t b = reserve(&f, 2, 3, 1);
	EXPECT_EQ(b, a + (1ull << 19) * PAGE_SIZE);
	EXPECT_EQ(vmm_release(&f.user, a, 1ull << 19), VM_OK);
	EXPECT_EQ(vmm_release(&f.user, b, 3), VM_OK);
	EXPECT_EQ(f.user.pt.table_pages, tables);
	fixture_fini(&f);
}

static void brk_body(struct vmm_fixture *f)
{
	uint64_t base = small_regions[0].base, brk;
	EXPECT_EQ(vmm_brk(&f->user, 0, &brk), VM_OK);
	EXPECT_EQ(brk, base);
	EXPECT_EQ(vmm_brk(&f->user, base + 10000, &brk), VM_OK);
	EXPECT_EQ(brk, base + 10000);
	EXPECT_EQ(f->user.pt.mapped_pages, 3);
	struct pt_translation t;
	ASSERT_EQ(pt_translate(&f->user.pt, base + 9999, &t), VM_OK);
	EXPECT_EQ(*(char *)phys_to_virt(t.pa), 0); /* fresh heap pages are zeroed */
	EXPECT_EQ(t.prot, PT_READ | PT_WRITE | PT_USER);
	uint64_t blocker = reserve(f, 0, 1, 1);
	EXPECT_EQ(blocker, base + 3 * PAGE_SIZE);
	EXPECT_EQ(vmm_brk(&f->user, base + 4 * PAGE_SIZE, &brk), VM_ERR_NO_SPACE);
	EXPECT_EQ(brk, base + 10000);
	EXPECT_EQ(vmm_brk(&f->user, base + PAGE_SIZE, &brk), VM_OK);
	EXPECT_EQ(f->user.pt.mapped_pages, 1);
	struct vmm_query_result q;
	vmm_query(&f->user, base, &q);
	EXPECT_EQ(q.pages, 1);
	EXPECT_EQ(vmm_brk(&f->user, base, &brk), VM_OK);
	EXPECT_EQ(f->user.pt.mapped_pages, 0);
	EXPECT_EQ(vmm_brk(&f->user, base + 3000 * PAGE_SIZE, &brk), VM_ERR_INVALID);
	EXPECT_EQ(vmm_brk(&f->user, base + 2 * PAGE_SIZE, &brk), VM_OK);
	EXPECT_EQ(vmm_release(&f->user, blocker, 1), VM_OK);
	EXPECT_EQ(vmm_brk(&f->user, base + 2048 * PAGE_SIZE, &brk), VM_OK);
	EXPECT_EQ(f->user.pt.mapped_pages, 2048);
}

/* brk grows and shrinks the heap contiguously from its base and stops at a neighbour. */
TEST(vmm_brk_grows_and_shrinks_contiguously)
{
	run_on_both_backends(brk_body);
}

static void shm_body(struct vmm_fixture *f)
{
	struct vmm_context other;
	uint64_t out = f->ts.pages_out;
	ASSERT_EQ(test_user_context(&other, &f->kernel, &f->ts, f->backend, small_regions,
				    ARRAY_SIZE(small_regions)), VM_OK);
	struct vmm_shm shm;
	ASSERT_EQ(vmm_shm_create(&shm, &f->ts.source, 3), VM_OK);
	uint64_t a, b;
	EXPECT_EQ(vmm_shm_attach(&f->user, &shm, PT_READ | PT_WRITE | PT_USER, &a), VM_OK);
	EXPECT_EQ(vmm_shm_attach(&other, &shm, PT_READ | PT_USER, &b), VM_OK);
	vmm_shm_put(&shm);
	struct pt_translation ta, tb;
	ASSERT_EQ(pt_translate(&f->user.pt, a + 2 * PAGE_SIZE, &ta), VM_OK);
	ASSERT_EQ(pt_translate(&other.pt, b + 2 * PAGE_SIZE, &tb), VM_OK);
	EXPECT_EQ(ta.pa, tb.pa);
	*(uint32_t *)phys_to_virt(ta.pa) = 0xC0FFEE;
	EXPECT_EQ(*(uint32_t *)phys_to_virt(tb.pa), 0xC0FFEE);
	EXPECT_EQ(vmm_shm_detach(&f->user, a), VM_OK);
	EXPECT_EQ(vmm_shm_detach(&f->user, a), VM_ERR_NOT_MAPPED);
	EXPECT_EQ(shm.refs, 1);
	vmm_context_destroy(&other); /* drops the last attachment */
	EXPECT_EQ(shm.refs, 0);
	EXPECT_EQ(f->ts.pages_out, out);
}

/* A shared-memory object maps the same pages in two contexts and is freed with the last mapping. */
TEST(vmm_shared_memory_is_shared_and_freed_last)
{
	run_on_both_backends(shm_body);
}

static void destroy_body(struct vmm_fixture *f)
{
	struct vmm_context user;
	uint64_t baseline = f->ts.pages_out;
	ASSERT_EQ(test_user_context(&user, &f->kernel, &f->ts, f->backend, NULL, 0), VM_OK);
	uint64_t addr, brk;
	EXPECT_EQ(vmm_alloc(&user, VMM_UREGION_MMAP, 20, PT_READ | PT_WRITE | PT_USER, &addr), VM_OK);
	EXPECT_EQ(vmm_alloc(&user, VMM_UREGION_STACKS, 4, PT_READ | PT_WRITE | PT_USER, &addr), VM_OK);
	EXPECT_EQ(vmm_reserve(&user, VMM_UREGION_LIBRARIES, 100000, 1, &addr), VM_OK);
	EXPECT_EQ(vmm_map(&user, addr, 0x80000000, 3, PT_PAGE_4K, PT_READ | PT_EXECUTE | PT_USER), VM_OK);
	EXPECT_EQ(vmm_brk(&user, USER_HEAP_BASE + 5 * PAGE_SIZE, &brk), VM_OK);
	struct vmm_shm shm;
	ASSERT_EQ(vmm_shm_create(&shm, &f->ts.source, 2), VM_OK);
	EXPECT_EQ(vmm_shm_attach(&user, &shm, PT_READ | PT_USER, &addr), VM_OK);
	vmm_shm_put(&shm);
	EXPECT_EQ(vmm_audit(&user), 0);
	vmm_context_destroy(&user);
	EXPECT_EQ(f->ts.pages_out, baseline);
}

/* Destroying a context returns every page it used: data, tables, bookkeeping, shm. */
TEST(vmm_context_destroy_returns_every_page)
{
	run_on_both_backends(destroy_body);
}

/* Kernel-region reservations in the kernel context are visible (shared) from user contexts. */
TEST(vmm_kernel_regions_are_shared_by_user_contexts)
{
	struct vmm_fixture f;
	ASSERT_TRUE(fixture_init(&f, VMM_BACKEND_PAGETABLE, 4096));
	uint64_t addr;
	EXPECT_EQ(vmm_alloc(&f.kernel, VMM_KREGION_HEAP, 2, PT_READ | PT_WRITE | PT_GLOBAL, &addr), VM_OK);
	EXPECT_EQ(addr, KERNEL_HEAP_BASE);
	struct pt_translation t;
	EXPECT_EQ(pt_translate(&f.user.pt, addr + PAGE_SIZE, &t), VM_OK);
	EXPECT_FALSE(t.prot & PT_USER);
	EXPECT_EQ(vmm_alloc(&f.kernel, VMM_KREGION_HEAP, 1, PT_READ | PT_USER, &addr), VM_ERR_INVALID);
	fixture_fini(&f);
}

static void oom_body(struct vmm_fixture *f)
{
	uint64_t baseline = f->ts.pages_out;
	for (uint64_t allowed = 0; allowed < 40; allowed++) {
		struct vmm_context user;
		f->ts.fail_after = f->ts.allocations + allowed;
		if (test_user_context(&user, &f->kernel, &f->ts, f->backend, small_regions,
				      ARRAY_SIZE(small_regions)) != VM_OK) {
			EXPECT_EQ(f->ts.pages_out, baseline);
			continue;
		}
		uint64_t a, brk;
		for (unsigned i = 0; i < 6; i++) {
			enum vm_status st = vmm_alloc(&user, 1, 3 + i * 40, PT_READ | PT_USER, &a);
			EXPECT_TRUE(st == VM_OK || st == VM_ERR_NO_MEMORY);
			st = vmm_reserve(&user, 2, 1000 + i * 700, 1, &a);
			EXPECT_TRUE(st == VM_OK || st == VM_ERR_NO_MEMORY);
			st = vmm_brk(&user, small_regions[0].base + (i + 1) * 3 * PAGE_SIZE, &brk);
			EXPECT_TRUE(st == VM_OK || st == VM_ERR_NO_MEMORY);
		}
		EXPECT_EQ(vmm_audit(&user), 0);
		EXPECT_EQ(user.backend->self_check(&user), 0);
		vmm_context_destroy(&user);
		EXPECT_EQ(f->ts.pages_out, baseline);
	}
	f->ts.fail_after = 0;
}

/* With a page source that fails after N pages, for every N, calls fail cleanly and nothing leaks. */
TEST(vmm_out_of_memory_fails_cleanly_without_leaks)
{
	run_on_both_backends(oom_body);
}

/*
 * Fills the backend's bookkeeping memory to a page boundary: 1-page reservations in region 2
 * until one takes a new page of memory, then that one released again (its page goes back).
 */
static void fill_bookkeeping_page(struct vmm_fixture *f)
{
	uint64_t before = vmm_bookkeeping_bytes(&f->user), addr = 0;
	for (unsigned i = 0; i < 10000 && vmm_bookkeeping_bytes(&f->user) == before; i++)
		EXPECT_EQ(vmm_reserve(&f->user, 2, 1, 1, &addr), VM_OK);
	EXPECT_EQ(vmm_release(&f->user, addr, 1), VM_OK);
}

static void brk_undo_body(struct vmm_fixture *f)
{
	uint64_t base = small_regions[0].base, brk;
	EXPECT_EQ(vmm_brk(&f->user, base + PAGE_SIZE, &brk), VM_OK);
	EXPECT_EQ(vmm_reserve_at(&f->user, base + 9 * PAGE_SIZE, 10), VM_OK);
	EXPECT_EQ(vmm_brk(&f->user, base + 9 * PAGE_SIZE, &brk), VM_OK); /* swallows the free run */
	fill_bookkeeping_page(f);
	/* Shrinking before the blocker needs a record for the freed tail: a fresh page, alone. */
	EXPECT_EQ(vmm_brk(&f->user, base + PAGE_SIZE, &brk), VM_OK);
	uint64_t pages_out = f->ts.pages_out, bytes = vmm_bookkeeping_bytes(&f->user);
	f->ts.fail_after = f->ts.allocations; /* from now on every allocation fails */
	/* Growing swallows the tail again; mapping fails; the undo must not need memory. */
	EXPECT_EQ(vmm_brk(&f->user, base + 9 * PAGE_SIZE, &brk), VM_ERR_NO_MEMORY);
	EXPECT_EQ(brk, base + PAGE_SIZE);
	EXPECT_EQ(f->ts.pages_out, pages_out);
	EXPECT_EQ(vmm_bookkeeping_bytes(&f->user), bytes);
	EXPECT_EQ(f->user.backend->self_check(&f->user), 0);
	struct vmm_query_result q;
	vmm_query(&f->user, base + 2 * PAGE_SIZE, &q);
	EXPECT_EQ(q.state, VMM_PAGE_FREE);
	EXPECT_EQ(q.start, base + PAGE_SIZE);
	EXPECT_EQ(q.pages, 8);
	f->ts.fail_after = 0;
	EXPECT_EQ(vmm_brk(&f->user, base + 9 * PAGE_SIZE, &brk), VM_OK);
	EXPECT_EQ(vmm_brk(&f->user, base, &brk), VM_OK);
	EXPECT_EQ(vmm_release(&f->user, base + 9 * PAGE_SIZE, 10), VM_OK);
}

/* A heap growth whose mapping runs out of memory is undone without needing memory: no panic. */
TEST(vmm_brk_growth_undo_survives_a_failing_page_source)
{
	run_on_both_backends(brk_undo_body);
}

/*
 * A family of contexts lives in its kernel context: every live context is visited (far more than
 * the old 64-slot table held), in creation order, with trace ids 0, 1, 2...; a second family
 * starts again at 0 whatever ran before.
 */
struct visit_log {
	unsigned count;
	bool in_order;
	uint16_t last_id;
};

static void log_visit(void *cookie, struct vmm_context *ctx)
{
	struct visit_log *log = cookie;
	if (log->count > 0 && ctx->pt.trace_context != log->last_id + 1)
		log->in_order = false;
	log->last_id = ctx->pt.trace_context;
	log->count++;
}

TEST(vmm_family_tracks_every_context_with_its_own_trace_ids)
{
	enum { USERS = 100 };
	struct test_source ts;
	test_source_init(&ts, 4096);
	static struct vmm_context users[USERS];
	struct vmm_context kernel, other_kernel;
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_LIST), VM_OK);
	EXPECT_EQ(kernel.pt.trace_context, 0);
	for (unsigned i = 0; i < USERS; i++)
		ASSERT_EQ(test_user_context(&users[i], &kernel, &ts, VMM_BACKEND_LIST, NULL, 0), VM_OK);
	struct visit_log log = { .in_order = true };
	vmm_for_each_context(&kernel, log_visit, &log);
	EXPECT_EQ(log.count, USERS + 1);
	EXPECT_TRUE(log.in_order);
	EXPECT_EQ(users[USERS - 1].pt.trace_context, USERS);

	ASSERT_EQ(test_kernel_context(&other_kernel, &ts, VMM_BACKEND_PAGETABLE), VM_OK);
	EXPECT_EQ(other_kernel.pt.trace_context, 0);
	struct vmm_context other_user;
	ASSERT_EQ(test_user_context(&other_user, &other_kernel, &ts, VMM_BACKEND_PAGETABLE, NULL, 0),
		  VM_OK);
	EXPECT_EQ(other_user.pt.trace_context, 1);
	/* A user context without regions of its own gets its kernel context's user layout. */
	EXPECT_TRUE(other_user.regions == host_user_regions);

	vmm_context_destroy(&users[50]);
	log = (struct visit_log){ .in_order = true };
	vmm_for_each_context(&kernel, log_visit, &log);
	EXPECT_EQ(log.count, USERS);
	EXPECT_FALSE(log.in_order); /* id 51 follows 49 */

	vmm_context_destroy(&other_user);
	vmm_context_destroy(&other_kernel);
	for (unsigned i = 0; i < USERS; i++)
		if (i != 50)
			vmm_context_destroy(&users[i]);
	vmm_context_destroy(&kernel);
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
}

/* A context needs a region table; a kernel context's user layout is checked like its own. */
TEST(vmm_context_create_refuses_missing_or_bad_region_tables)
{
	struct test_source ts;
	test_source_init(&ts, 1024);
	struct vmm_context kernel;
	struct vmm_config config = { .kind = VMM_CONTEXT_KERNEL, .backend = VMM_BACKEND_LIST,
				     .source = &ts.source, .brk_region = VMM_NO_REGION,
				     .shm_region = VMM_NO_REGION };
	EXPECT_EQ(vmm_context_create(&kernel, &config), VM_ERR_INVALID);
	config.regions = host_kernel_regions;
	config.region_count = HOST_KERNEL_REGION_COUNT;
	config.user_regions = host_kernel_regions; /* upper-half regions cannot be a user layout */
	config.user_region_count = HOST_KERNEL_REGION_COUNT;
	EXPECT_EQ(vmm_context_create(&kernel, &config), VM_ERR_INVALID);
	/* Every region names the owner of its pages: no NONE, nothing out of range. */
	static const struct vmm_region bad_owner[] = { { "none", 0x400000, 16, MM_OWNER_NONE },
						       { "huge", 0x800000, 16, MM_OWNER_COUNT } };
	for (unsigned i = 0; i < ARRAY_SIZE(bad_owner); i++) {
		config.user_regions = &bad_owner[i];
		config.user_region_count = 1;
		EXPECT_EQ(vmm_context_create(&kernel, &config), VM_ERR_INVALID);
	}
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
}
