/* Host tests of kernel/mm/kmalloc.c: every size, error detection, out of memory. */
#include "kernel/arch/amd64/vm.h"
#include "kernel/lib/testing.h"
#include "kernel/mm/kmalloc.h"
#include "tests/host/vmm_test_support.h"

static const size_t sizes[] = { 1, 8, 9, 24, 100, 512, 2047, 2048, 2049, 4096, 10000, 1 << 20, 3 << 20 };

/* Sizes from 1 byte to megabytes get usable, distinct memory from the right region. */
TEST(kmalloc_serves_every_size_from_bytes_to_megabytes)
{
	struct test_source ts;
	test_source_init(&ts, 8192);
	struct vmm_context kernel;
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_PAGETABLE), VM_OK);
	struct slab_arena slabs;
	test_slab_arena(&slabs, &kernel);
	uint64_t baseline = ts.pages_out;
	struct kmalloc_heap heap;
	ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &slabs, VMM_KREGION_HEAP }), VM_OK);
	void *p[ARRAY_SIZE(sizes)];
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		p[i] = kmalloc(&heap, sizes[i]);
		ASSERT_TRUE(p[i] != NULL);
		uint64_t va = (uint64_t)(uintptr_t)p[i];
		if (sizes[i] <= SLAB_MAX_OBJECT)
			EXPECT_TRUE(va - SLAB_REGION_BASE < SLAB_REGION_SIZE);
		else
			EXPECT_TRUE(va - KERNEL_HEAP_BASE < KERNEL_HEAP_SIZE);
		/* the last byte is reachable: the whole size is mapped */
		unsigned char *last = kmalloc_host_view(&heap, (char *)p[i] + sizes[i] - 1);
		ASSERT_TRUE(last != NULL);
		*last = (unsigned char)i;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++)
		EXPECT_EQ(*(unsigned char *)kmalloc_host_view(&heap, (char *)p[i] + sizes[i] - 1), i);
	EXPECT_TRUE(kmalloc(&heap, 0) == NULL);
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++)
		EXPECT_EQ(kfree(&heap, p[i]), VM_OK);
	EXPECT_EQ(kmalloc_destroy(&heap), 0);
	EXPECT_EQ(ts.pages_out, baseline);
	vmm_context_destroy(&kernel);
	test_source_fini(&ts);
}

/* kfree refuses double frees, interior and foreign pointers of both kinds, without damage. */
TEST(kmalloc_detects_double_free_and_foreign_pointers)
{
	struct test_source ts;
	test_source_init(&ts, 4096);
	struct vmm_context kernel;
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_LIST), VM_OK);
	struct slab_arena slabs;
	test_slab_arena(&slabs, &kernel);
	struct kmalloc_heap heap;
	ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &slabs, VMM_KREGION_SLAB }),
		  VM_ERR_INVALID); /* large allocations cannot share the slab region */
	ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &slabs, VMM_KREGION_HEAP }), VM_OK);
	char *small = kmalloc(&heap, 48), *other = kmalloc(&heap, 48), *large = kmalloc(&heap, 20000);
	ASSERT_TRUE(small && other && large);
	/* One slab page (tagged slab) and five heap pages (tagged heap): a trace can tell them apart. */
	EXPECT_EQ(ts.allocated_by_owner[MM_OWNER_SLAB], 1);
	EXPECT_EQ(ts.allocated_by_owner[MM_OWNER_HEAP], 5);
	EXPECT_EQ(kfree(&heap, small), VM_OK);
	EXPECT_EQ(kfree(&heap, small), VM_ERR_DOUBLE_FREE);
	EXPECT_EQ(kfree(&heap, other + 4), VM_ERR_FOREIGN_POINTER);
	EXPECT_EQ(kfree(&heap, large + PAGE_SIZE), VM_ERR_FOREIGN_POINTER);
	EXPECT_EQ(kfree(&heap, &heap), VM_ERR_FOREIGN_POINTER);
	EXPECT_EQ(kfree(&heap, large), VM_OK);
	EXPECT_EQ(kfree(&heap, large), VM_ERR_DOUBLE_FREE);
	EXPECT_EQ(kfree(&heap, other), VM_OK);
	EXPECT_EQ(kfree(&heap, other), VM_ERR_FOREIGN_POINTER); /* its slab is gone already */
	EXPECT_EQ(kmalloc_destroy(&heap), 0);
	vmm_context_destroy(&kernel);
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
}

/* With a failing page source kmalloc returns NULL and nothing leaks. */
TEST(kmalloc_out_of_memory_returns_null_without_leaks)
{
	struct test_source ts;
	test_source_init(&ts, 4096);
	struct vmm_context kernel;
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_PAGETABLE), VM_OK);
	struct slab_arena slabs;
	test_slab_arena(&slabs, &kernel);
	uint64_t baseline = ts.pages_out;
	for (uint64_t allowed = 0; allowed < 12; allowed++) {
		struct kmalloc_heap heap;
		ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &slabs, VMM_KREGION_HEAP }), VM_OK);
		ts.fail_after = ts.allocations + allowed;
		void *a = kmalloc(&heap, 16), *b = kmalloc(&heap, 9000), *c = kmalloc(&heap, 1000);
		ts.fail_after = 0;
		if (allowed == 0)
			EXPECT_TRUE(a == NULL && b == NULL && c == NULL);
		if (a)
			EXPECT_EQ(kfree(&heap, a), VM_OK);
		if (b)
			EXPECT_EQ(kfree(&heap, b), VM_OK);
		if (c)
			EXPECT_EQ(kfree(&heap, c), VM_OK);
		EXPECT_EQ(kmalloc_destroy(&heap), 0);
		EXPECT_EQ(ts.pages_out, baseline);
		if (testing_current_failed()) {
			testing_note("pages allowed: %llu", (unsigned long long)allowed);
			break;
		}
	}
	vmm_context_destroy(&kernel);
	test_source_fini(&ts);
}
