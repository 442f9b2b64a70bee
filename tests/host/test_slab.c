/* Host tests of kernel/mm/slab.c: placement in the slab region, reuse, error detection, poisoning. */
#include "kernel/arch/amd64/vm.h"
#include "kernel/lib/testing.h"
#include "kernel/mm/slab.h"
#include "tests/host/vmm_test_support.h"

#define OBJECTS 1000

/* Objects are distinct, inside the slab region, and every slab page returns when all are freed. */
TEST(slab_places_objects_in_the_slab_region_and_returns_pages)
{
	struct test_source ts;
	test_source_init(&ts, 4096);
	struct vmm_context kernel;
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_LIST), VM_OK);
	struct slab_arena slabs;
	test_slab_arena(&slabs, &kernel);
	uint64_t baseline = ts.pages_out;
	struct slab_cache cache;
	ASSERT_EQ(slab_cache_init(&cache, "test-40", 36, &slabs), VM_OK);
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
	EXPECT_EQ(ts.allocated_by_owner[MM_OWNER_SLAB], cache.slabs);
	EXPECT_EQ(ts.allocated_by_owner[MM_OWNER_HEAP], 0);
	for (unsigned i = 0; i < OBJECTS; i++)
		EXPECT_EQ(*(uint32_t *)slab_host_view(&cache, objects[i]), i);
	for (unsigned i = 0; i < OBJECTS; i += 2)
		EXPECT_EQ(slab_free(&cache, objects[i]), VM_OK);
	EXPECT_TRUE(slab_alloc(&cache) != NULL); /* reuses a hole, no new slab */
	EXPECT_EQ(cache.slabs, (OBJECTS + cache.objects_per_slab - 1) / cache.objects_per_slab);
	EXPECT_EQ(slab_cache_destroy(&cache), OBJECTS / 2 + 1);
	EXPECT_EQ(ts.pages_out, baseline);
	vmm_context_destroy(&kernel);
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
}

/* Double free and foreign pointers are refused with a clear status and change nothing. */
TEST(slab_detects_double_free_and_foreign_pointers)
{
	struct test_source ts;
	test_source_init(&ts, 4096);
	struct vmm_context kernel;
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_PAGETABLE), VM_OK);
	struct slab_arena slabs;
	test_slab_arena(&slabs, &kernel);
	struct slab_cache a, b;
	ASSERT_EQ(slab_cache_init(&a, "a", 64, &slabs), VM_OK);
	ASSERT_EQ(slab_cache_init(&b, "b", 64, &slabs), VM_OK);
	char *x = slab_alloc(&a), *y = slab_alloc(&a), *z = slab_alloc(&b);
	ASSERT_TRUE(x && y && z);
	EXPECT_EQ(slab_free(&a, x), VM_OK);
	EXPECT_EQ(slab_free(&a, x), VM_ERR_DOUBLE_FREE);
	EXPECT_EQ(slab_free(&a, y + 8), VM_ERR_FOREIGN_POINTER);
	EXPECT_EQ(slab_free(&a, z), VM_ERR_FOREIGN_POINTER);
	EXPECT_EQ(slab_free(&a, &ts), VM_ERR_FOREIGN_POINTER);
	EXPECT_EQ(a.objects_in_use, 1);
	EXPECT_EQ(slab_free(&a, y), VM_OK);
	EXPECT_EQ(slab_free(&b, z), VM_OK);
	EXPECT_EQ(a.slabs + b.slabs, 0);
	EXPECT_EQ(slab_cache_init(&a, "too-big", 4096, &slabs), VM_ERR_INVALID);
	vmm_context_destroy(&kernel);
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
}

/* In debug builds a freed object is filled with poison so dangling readers see junk. */
TEST(slab_poisons_freed_objects)
{
	struct test_source ts;
	test_source_init(&ts, 4096);
	struct vmm_context kernel;
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_LIST), VM_OK);
	struct slab_arena slabs;
	test_slab_arena(&slabs, &kernel);
	struct slab_cache cache;
	ASSERT_EQ(slab_cache_init(&cache, "poison", 32, &slabs), VM_OK);
	void *keep = slab_alloc(&cache), *gone = slab_alloc(&cache);
	unsigned char *view = slab_host_view(&cache, gone);
	view[0] = 0;
	EXPECT_EQ(slab_free(&cache, gone), VM_OK);
	EXPECT_EQ(view[0], 0x6B);
	EXPECT_EQ(view[31], 0x6B);
	EXPECT_EQ(slab_free(&cache, keep), VM_OK);
	vmm_context_destroy(&kernel);
	test_source_fini(&ts);
}

/* Cache trace ids are numbered per arena from 0, whatever other arenas or tests did before. */
TEST(slab_trace_ids_are_numbered_per_arena)
{
	struct test_source ts;
	test_source_init(&ts, 4096);
	struct vmm_context kernel;
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_LIST), VM_OK);
	struct slab_arena first, second;
	test_slab_arena(&first, &kernel);
	test_slab_arena(&second, &kernel);
	struct slab_cache a, b, c;
	ASSERT_EQ(slab_cache_init(&a, "a", 16, &first), VM_OK);
	ASSERT_EQ(slab_cache_init(&b, "b", 16, &first), VM_OK);
	ASSERT_EQ(slab_cache_init(&c, "c", 16, &second), VM_OK);
	EXPECT_EQ(a.trace_id, 0);
	EXPECT_EQ(b.trace_id, 1);
	EXPECT_EQ(c.trace_id, 0);
	/* An arena only goes where the machine layer's table says slabs live. */
	struct slab_arena wrong;
	EXPECT_EQ(slab_arena_init(&wrong, &kernel, VMM_KREGION_HEAP), VM_ERR_INVALID);
	vmm_context_destroy(&kernel);
	test_source_fini(&ts);
}
