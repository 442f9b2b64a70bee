/* Host tests of kernel/mm/slab.c: placement in the slab region, reuse, error detection, poisoning. */
#include "kernel/arch/amd64/vm.h"
#include "kernel/lib/testing.h"
#include "kernel/mm/slab.h"
#include "tests/host/vmm_test_support.h"

#define OBJECTS 1000

/* Objects are distinct, inside the slab region, and every slab page returns when all are freed. */
TEST(slab_places_objects_in_the_slab_region_and_returns_pages)
{
	struct kmem_fixture f;
	ASSERT_TRUE(kmem_fixture_init(&f, 4096, VMM_BACKEND_LIST));
	uint64_t baseline = f.ts.pages_out;
	struct slab_cache cache;
	ASSERT_EQ(slab_cache_init(&cache, "test-40", 36, &f.slabs), VM_OK);
	EXPECT_EQ(cache.object_size, 40);
	static void *objects[OBJECTS];
	for (unsigned i = 0; i < OBJECTS; i++) {
		objects[i] = slab_alloc(&cache);
		ASSERT_TRUE(objects[i] != NULL);
		uint64_t va = (uint64_t)(uintptr_t)objects[i];
		EXPECT_TRUE(va >= SLAB_REGION_BASE && va < SLAB_REGION_BASE + SLAB_REGION_SIZE);
		*(uint32_t *)slab_host_view(&cache, objects[i]) = i;
	}
	EXPECT_EQ(cache.slabs, (OBJECTS + cache.objects_per_slab - 1) / cache.objects_per_slab);
	/* Slab pages carry the slab owner tag, so a trace tells them from heap pages. */
	EXPECT_EQ(f.ts.allocated_by_owner[MM_OWNER_SLAB], cache.slabs);
	EXPECT_EQ(f.ts.allocated_by_owner[MM_OWNER_HEAP], 0);
	for (unsigned i = 0; i < OBJECTS; i++)
		EXPECT_EQ(*(uint32_t *)slab_host_view(&cache, objects[i]), i);
	for (unsigned i = 0; i < OBJECTS; i += 2)
		EXPECT_EQ(slab_free(&cache, objects[i]), VM_OK);
	EXPECT_TRUE(slab_alloc(&cache) != NULL); /* reuses a hole, no new slab */
	EXPECT_EQ(cache.slabs, (OBJECTS + cache.objects_per_slab - 1) / cache.objects_per_slab);
	EXPECT_EQ(slab_cache_destroy(&cache), OBJECTS / 2 + 1);
	EXPECT_EQ(f.ts.pages_out, baseline);
	vmm_context_destroy(&f.kernel);
	EXPECT_EQ(f.ts.pages_out, 0);
	test_source_fini(&f.ts);
}

/* Double free and foreign pointers are refused with a clear status and change nothing. */
TEST(slab_detects_double_free_and_foreign_pointers)
{
	struct kmem_fixture f;
	ASSERT_TRUE(kmem_fixture_init(&f, 4096, VMM_BACKEND_PAGETABLE));
	struct slab_cache a, b;
	ASSERT_EQ(slab_cache_init(&a, "a", 64, &f.slabs), VM_OK);
	ASSERT_EQ(slab_cache_init(&b, "b", 64, &f.slabs), VM_OK);
	char *x = slab_alloc(&a), *y = slab_alloc(&a), *z = slab_alloc(&b);
	ASSERT_TRUE(x && y && z);
	EXPECT_EQ(slab_free(&a, x), VM_OK);
	EXPECT_EQ(slab_free(&a, x), VM_ERR_DOUBLE_FREE);
	EXPECT_EQ(slab_free(&a, y + 8), VM_ERR_FOREIGN_POINTER);
	EXPECT_EQ(slab_free(&a, z), VM_ERR_FOREIGN_POINTER);
	EXPECT_EQ(slab_free(&a, &f.ts), VM_ERR_FOREIGN_POINTER);
	EXPECT_EQ(a.objects_in_use, 1);
	EXPECT_EQ(slab_free(&a, y), VM_OK);
	EXPECT_EQ(slab_free(&b, z), VM_OK);
	EXPECT_EQ(a.slabs + b.slabs, 0);
	EXPECT_EQ(slab_cache_init(&a, "too-big", 4096, &f.slabs), VM_ERR_INVALID);
	vmm_context_destroy(&f.kernel);
	EXPECT_EQ(f.ts.pages_out, 0);
	test_source_fini(&f.ts);
}

/* In debug builds a freed object is filled with poison so dangling readers see junk. */
TEST(slab_poisons_freed_objects)
{
	struct kmem_fixture f;
	ASSERT_TRUE(kmem_fixture_init(&f, 4096, VMM_BACKEND_LIST));
	struct slab_cache cache;
	ASSERT_EQ(slab_cache_init(&cache, "poison", 32, &f.slabs), VM_OK);
	void *keep = slab_alloc(&cache), *gone = slab_alloc(&cache);
	unsigned char *view = slab_host_view(&cache, gone);
	view[0] = 0;
	EXPECT_EQ(slab_free(&cache, gone), VM_OK);
	EXPECT_EQ(view[0], 0x6B);
	EXPECT_EQ(view[31], 0x6B);
	EXPECT_EQ(slab_free(&cache, keep), VM_OK);
	kmem_fixture_fini(&f);
}

/* Cache trace ids are numbered per arena from 0, whatever other arenas or tests did before. */
TEST(slab_trace_ids_are_numbered_per_arena)
{
	struct kmem_fixture f; /* its arena is the first; a second one beside it */
	ASSERT_TRUE(kmem_fixture_init(&f, 4096, VMM_BACKEND_LIST));
	struct slab_arena second;
	test_slab_arena(&second, &f.kernel);
	struct slab_cache a, b, c;
	ASSERT_EQ(slab_cache_init(&a, "a", 16, &f.slabs), VM_OK);
	ASSERT_EQ(slab_cache_init(&b, "b", 16, &f.slabs), VM_OK);
	ASSERT_EQ(slab_cache_init(&c, "c", 16, &second), VM_OK);
	EXPECT_EQ(a.trace_id, 0);
	EXPECT_EQ(b.trace_id, 1);
	EXPECT_EQ(c.trace_id, 0);
	/* An arena only goes where the machine layer's table says slabs live. */
	struct slab_arena wrong;
	EXPECT_EQ(slab_arena_init(&wrong, &f.kernel, VMM_KREGION_HEAP), VM_ERR_INVALID);
	kmem_fixture_fini(&f);
}

/* ---- stated bounds (slab.h), held on each operation's worst pattern ------------------------ */

/* One slab_alloc; asserts its slab and VMM work against the bounds slab.h states. */
static void *alloc_within_bound(struct slab_cache *cache, struct worst_work *worst)
{
	struct vmm_context *kernel = cache->arena->kernel;
	uint64_t vmm_bound = 2 * kernel->backend->work_bound(kernel, 1);
	uint64_t slab_before = cache->arena->work, vmm_before = kernel->backend_work;
	void *object = slab_alloc(cache);
	worst_work_record(worst, cache->arena->work - slab_before, SLAB_ALLOC_WORK_BOUND(cache),
			  kernel->backend_work - vmm_before, vmm_bound);
	return object;
}

/* One slab_free; asserts its work against the bounds and returns its status. */
static enum vm_status free_within_bound(struct slab_cache *cache, void *ptr, struct worst_work *worst)
{
	struct vmm_context *kernel = cache->arena->kernel;
	uint64_t vmm_bound = kernel->backend->work_bound(kernel, 1);
	uint64_t slab_before = cache->arena->work, vmm_before = kernel->backend_work;
	enum vm_status st = slab_free(cache, ptr);
	worst_work_record(worst, cache->arena->work - slab_before, SLAB_FREE_WORK_BOUND,
			  kernel->backend_work - vmm_before, vmm_bound);
	return st;
}

#define FULL_SLABS 64

/*
 * slab_alloc reads at most 1 + W work on its worst pattern (64 partial slabs whose only free object is
 * the last bit of the last bitmap word) and reaches exactly that: the bound is tight.
 */
TEST(slab_alloc_work_is_bounded_when_only_the_last_bit_is_free)
{
	for (unsigned b = 0; b < ARRAY_SIZE(bound_backends); b++) {
		struct kmem_fixture f;
		ASSERT_TRUE(kmem_fixture_init(&f, 4096, bound_backends[b]));
		struct slab_cache cache;
		ASSERT_EQ(slab_cache_init(&cache, "bits-8", 8, &f.slabs), VM_OK);
		EXPECT_EQ(slab_bitmap_words(&cache), 8); /* 8-byte objects use every bitmap word */
		static void *objects[FULL_SLABS * 512];
		uint32_t per_slab = cache.objects_per_slab;
		struct worst_work filling = { 0 }, last_bit = { 0 };
		for (unsigned i = 0; i < FULL_SLABS * per_slab; i++)
			ASSERT_TRUE((objects[i] = alloc_within_bound(&cache, &filling)) != NULL);
		EXPECT_EQ(cache.slabs, FULL_SLABS);
		/* Objects come in index order, so the last of each slab is its last bitmap bit. */
		for (unsigned s = 0; s < FULL_SLABS; s++)
			EXPECT_EQ(slab_free(&cache, objects[s * per_slab + per_slab - 1]), VM_OK);
		uint64_t vmm_before = f.kernel.backend_work;
		for (unsigned s = 0; s < FULL_SLABS; s++) {
			void *again = alloc_within_bound(&cache, &last_bit);
			EXPECT_EQ((uint64_t)(uintptr_t)again % PAGE_SIZE,
				  (uint64_t)(uintptr_t)objects[per_slab - 1] % PAGE_SIZE);
		}
		EXPECT_EQ(f.kernel.backend_work, vmm_before); /* every object came from a partial slab */
		EXPECT_EQ(last_bit.slab, SLAB_ALLOC_WORK_BOUND(&cache));
		testing_note("%s: slab_alloc worst work %llu (bound %u) on last-bit slabs; filling: "
			     "slab work %llu, VMM work %llu (bound %llu)",
			     f.kernel.backend->name, (unsigned long long)last_bit.slab,
			     SLAB_ALLOC_WORK_BOUND(&cache), (unsigned long long)filling.slab,
			     (unsigned long long)filling.vmm, (unsigned long long)filling.vmm_bound);
		EXPECT_EQ(slab_cache_destroy(&cache), FULL_SLABS * per_slab);
		kmem_fixture_fini(&f);
	}
}

/*
 * slab_free adds at most 2 work for every kind of pointer (valid, double, interior, other cache,
 * unmapped slab page, outside the arena), and a free that empties a slab costs one VMM release
 * within work_bound(1), even with the arena holed by alternating returned slabs.
 */
TEST(slab_free_work_is_bounded_for_every_pointer_and_every_emptied_slab)
{
	for (unsigned b = 0; b < ARRAY_SIZE(bound_backends); b++) {
		struct kmem_fixture f;
		ASSERT_TRUE(kmem_fixture_init(&f, 8192, bound_backends[b]));
		struct slab_cache cache, other;
		ASSERT_EQ(slab_cache_init(&cache, "page-2k", 2048, &f.slabs), VM_OK);
		ASSERT_EQ(slab_cache_init(&other, "other", 64, &f.slabs), VM_OK);
		EXPECT_EQ(cache.objects_per_slab, 1); /* one object per slab: every free empties one */
		enum { SLABS = 2000 };
		static char *objects[SLABS];
		struct worst_work allocs = { 0 }, refused = { 0 }, emptied = { 0 };
		for (unsigned i = 0; i < SLABS; i++)
			ASSERT_TRUE((objects[i] = alloc_within_bound(&cache, &allocs)) != NULL);
		char *foreign = slab_alloc(&other);
		ASSERT_TRUE(foreign != NULL);
		/* Every other slab returned: the arena's free space is alternating one-page holes. */
		for (unsigned i = 0; i < SLABS; i += 2)
			EXPECT_EQ(free_within_bound(&cache, objects[i], &emptied), VM_OK);
		EXPECT_EQ(free_within_bound(&cache, objects[0], &refused), VM_ERR_FOREIGN_POINTER);
		EXPECT_EQ(free_within_bound(&cache, objects[1] + 8, &refused), VM_ERR_FOREIGN_POINTER);
		EXPECT_EQ(free_within_bound(&cache, foreign, &refused), VM_ERR_FOREIGN_POINTER);
		EXPECT_EQ(free_within_bound(&cache, &f.ts, &refused), VM_ERR_FOREIGN_POINTER);
		uint64_t unused_page = SLAB_REGION_BASE + SLAB_REGION_SIZE - PAGE_SIZE;
		EXPECT_EQ(free_within_bound(&cache, (void *)(uintptr_t)unused_page, &refused),
			  VM_ERR_FOREIGN_POINTER);
		EXPECT_EQ(cache.objects_in_use, SLABS / 2);
		for (unsigned i = 1; i < SLABS; i += 2)
			EXPECT_EQ(free_within_bound(&cache, objects[i], &emptied), VM_OK);
		EXPECT_EQ(cache.slabs, 0);
		EXPECT_EQ(refused.vmm, 0);
		EXPECT_GE(emptied.vmm, 1); /* the pattern really released slabs through the VMM */
		testing_note("%s: slab_free worst work %llu (bound %u), refused %llu; emptying free: VMM "
			     "work %llu (bound %llu); new slab: VMM work %llu (bound %llu)",
			     f.kernel.backend->name, (unsigned long long)emptied.slab, SLAB_FREE_WORK_BOUND,
			     (unsigned long long)refused.slab, (unsigned long long)emptied.vmm,
			     (unsigned long long)emptied.vmm_bound, (unsigned long long)allocs.vmm,
			     (unsigned long long)allocs.vmm_bound);
		EXPECT_EQ(slab_free(&other, foreign), VM_OK);
		kmem_fixture_fini(&f);
	}
}

/* A slab_free with a freed twin: a double free is refused after reading one header and one word. */
TEST(slab_double_free_work_is_one_header_and_one_word)
{
	struct kmem_fixture f;
	ASSERT_TRUE(kmem_fixture_init(&f, 4096, VMM_BACKEND_LIST));
	struct slab_cache cache;
	ASSERT_EQ(slab_cache_init(&cache, "twice", 32, &f.slabs), VM_OK);
	void *keep = slab_alloc(&cache), *twice = slab_alloc(&cache);
	struct worst_work worst = { 0 };
	EXPECT_EQ(free_within_bound(&cache, twice, &worst), VM_OK);
	uint64_t before = f.slabs.work;
	EXPECT_EQ(slab_free(&cache, twice), VM_ERR_DOUBLE_FREE);
	EXPECT_EQ(f.slabs.work - before, SLAB_FREE_WORK_BOUND);
	EXPECT_EQ(slab_free(&cache, keep), VM_OK);
	kmem_fixture_fini(&f);
}

/* slab_cache_destroy reads exactly one header per live slab, full or partial, and no more. */
TEST(slab_cache_destroy_work_is_one_per_live_slab)
{
	struct kmem_fixture f;
	ASSERT_TRUE(kmem_fixture_init(&f, 4096, VMM_BACKEND_PAGETABLE));
	struct slab_cache cache;
	ASSERT_EQ(slab_cache_init(&cache, "destroy-512", 512, &f.slabs), VM_OK);
	uint64_t cache_init_work = f.slabs.work;
	EXPECT_EQ(cache_init_work, 0);
	for (unsigned i = 0; i < 10 * cache.objects_per_slab + 3; i++)
		ASSERT_TRUE(slab_alloc(&cache) != NULL);
	uint64_t live = cache.slabs, before = f.slabs.work;
	EXPECT_EQ(live, 11);
	EXPECT_EQ(slab_cache_destroy(&cache), 10 * cache.objects_per_slab + 3);
	EXPECT_EQ(f.slabs.work - before, live);
	vmm_context_destroy(&f.kernel);
	EXPECT_EQ(f.ts.pages_out, 0);
	test_source_fini(&f.ts);
}
