/* Host tests of kernel/mm/kmalloc.c: every size, error detection, out of memory. */
#include "kernel/arch/amd64/vm.h"
#include "kernel/lib/testing.h"
#include "kernel/mm/kmalloc.h"
#include "tests/host/vmm_test_support.h"

static const size_t sizes[] = { 1, 8, 9, 24, 100, 512, 2047, 2048, 2049, 4096, 10000, 1 << 20, 3 << 20 };

/* Sizes from 1 byte to megabytes get usable, distinct memory from the right region. */
TEST(kmalloc_serves_every_size_from_bytes_to_megabytes)
{
	struct kmem_fixture f;
	ASSERT_TRUE(kmem_fixture_init(&f, 8192, VMM_BACKEND_PAGETABLE));
	uint64_t baseline = f.ts.pages_out;
	struct kmalloc_heap heap;
	ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &f.slabs, VMM_KREGION_HEAP }), VM_OK);
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
	EXPECT_EQ(f.ts.pages_out, baseline);
	kmem_fixture_fini(&f);
}

/* kfree refuses double frees, interior and foreign pointers of both kinds, without damage. */
TEST(kmalloc_detects_double_free_and_foreign_pointers)
{
	struct kmem_fixture f;
	ASSERT_TRUE(kmem_fixture_init(&f, 4096, VMM_BACKEND_LIST));
	struct kmalloc_heap heap;
	ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &f.slabs, VMM_KREGION_SLAB }),
		  VM_ERR_INVALID); /* large allocations cannot share the slab region */
	ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &f.slabs, VMM_KREGION_HEAP }), VM_OK);
	char *small = kmalloc(&heap, 48), *other = kmalloc(&heap, 48), *large = kmalloc(&heap, 20000);
	ASSERT_TRUE(small && other && large);
	/* One slab page (tagged slab) and five heap pages (tagged heap): a trace can tell them apart. */
	EXPECT_EQ(f.ts.allocated_by_owner[MM_OWNER_SLAB], 1);
	EXPECT_EQ(f.ts.allocated_by_owner[MM_OWNER_HEAP], 5);
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
	vmm_context_destroy(&f.kernel);
	EXPECT_EQ(f.ts.pages_out, 0);
	test_source_fini(&f.ts);
}

/* With a failing page source kmalloc returns NULL and nothing leaks. */
TEST(kmalloc_out_of_memory_returns_null_without_leaks)
{
	struct kmem_fixture f;
	ASSERT_TRUE(kmem_fixture_init(&f, 4096, VMM_BACKEND_PAGETABLE));
	uint64_t baseline = f.ts.pages_out;
	for (uint64_t allowed = 0; allowed < 12; allowed++) {
		struct kmalloc_heap heap;
		ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &f.slabs, VMM_KREGION_HEAP }), VM_OK);
		f.ts.fail_after = f.ts.allocations + allowed;
		void *a = kmalloc(&heap, 16), *b = kmalloc(&heap, 9000), *c = kmalloc(&heap, 1000);
		f.ts.fail_after = 0;
		if (allowed == 0)
			EXPECT_TRUE(a == NULL && b == NULL && c == NULL);
		if (a)
			EXPECT_EQ(kfree(&heap, a), VM_OK);
		if (b)
			EXPECT_EQ(kfree(&heap, b), VM_OK);
		if (c)
			EXPECT_EQ(kfree(&heap, c), VM_OK);
		EXPECT_EQ(kmalloc_destroy(&heap), 0);
		EXPECT_EQ(f.ts.pages_out, baseline);
		if (testing_current_failed()) {
			testing_note("pages allowed: %llu", (unsigned long long)allowed);
			break;
		}
	}
	kmem_fixture_fini(&f);
}

/* ---- stated bounds (kmalloc.h), held on each operation's worst pattern --------------------- */

static uint64_t pages_of(size_t size)
{
	return ALIGN_UP((uint64_t)size, PAGE_SIZE) / PAGE_SIZE;
}

/* The size class that must serve a small size: the smallest that holds it. */
static const struct slab_cache *class_for(const struct kmalloc_heap *heap, size_t size)
{
	unsigned c = 0;
	while (heap->classes[c].object_size < size)
		c++;
	return &heap->classes[c];
}

/* One kmalloc; asserts its slab and VMM work against the bounds kmalloc.h states. */
static void *kmalloc_within_bound(struct kmalloc_heap *heap, size_t size, struct worst_work *worst)
{
	struct vmm_context *kernel = heap->kernel;
	bool small = size <= SLAB_MAX_OBJECT;
	uint64_t slab_bound = small ? SLAB_ALLOC_WORK_BOUND(class_for(heap, size)) : 0;
	uint64_t vmm_bound = 2 * kernel->backend->work_bound(kernel, small ? 1 : pages_of(size));
	uint64_t slab_before = heap->slabs->work, vmm_before = kernel->backend_work;
	void *ptr = kmalloc(heap, size);
	worst_work_record(worst, heap->slabs->work - slab_before, slab_bound,
			  kernel->backend_work - vmm_before, vmm_bound);
	return ptr;
}

/*
 * One kfree; asserts its work against the bounds (large_pages: the pages a valid large pointer
 * releases, 0 otherwise) and returns its status.
 */
static enum vm_status kfree_within_bound(struct kmalloc_heap *heap, void *ptr, uint64_t large_pages,
					 struct worst_work *worst)
{
	struct vmm_context *kernel = heap->kernel;
	bool in_slabs = slab_arena_contains(heap->slabs, ptr);
	uint64_t vmm_bound = kernel->backend->work_bound(kernel, 1);
	if (large_pages)
		vmm_bound += kernel->backend->work_bound(kernel, large_pages);
	uint64_t slab_before = heap->slabs->work, vmm_before = kernel->backend_work;
	enum vm_status st = kfree(heap, ptr);
	worst_work_record(worst, heap->slabs->work - slab_before, in_slabs ? KFREE_SMALL_WORK_BOUND : 0,
			  kernel->backend_work - vmm_before, vmm_bound);
	return st;
}

/*
 * At every size class boundary (b - 1, b, b + 1 for b = 8 .. 2048, and the first large sizes)
 * kmalloc picks the smallest class that holds the size, and kmalloc and kfree stay within bound.
 */
TEST(kmalloc_work_is_bounded_at_every_size_class_boundary)
{
	for (unsigned b = 0; b < ARRAY_SIZE(bound_backends); b++) {
		struct kmem_fixture f;
		ASSERT_TRUE(kmem_fixture_init(&f, 8192, bound_backends[b]));
		struct kmalloc_heap heap;
		ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &f.slabs, VMM_KREGION_HEAP }), VM_OK);
		EXPECT_EQ(f.slabs.work, 0); /* kmalloc_init looks at no slab */
		struct worst_work small = { 0 }, large = { 0 }, freed = { 0 };
		for (size_t boundary = SLAB_MIN_OBJECT; boundary <= 2 * PAGE_SIZE; boundary *= 2) {
			for (size_t size = boundary - 1; size <= boundary + 1; size++) {
				struct worst_work *worst = size <= SLAB_MAX_OBJECT ? &small : &large;
				void *p = kmalloc_within_bound(&heap, size, worst);
				ASSERT_TRUE(p != NULL);
				if (size <= SLAB_MAX_OBJECT) {
					struct slab_cache *cache = slab_cache_of(&f.slabs, p);
					ASSERT_TRUE(cache != NULL);
					EXPECT_TRUE(cache == class_for(&heap, size));
					/* the smallest power of two (at least 8) that holds size */
					EXPECT_TRUE(cache->object_size >= size &&
						    (cache->object_size == SLAB_MIN_OBJECT ||
						     cache->object_size / 2 < size));
				} else {
					struct vmm_query_result q;
					vmm_query(&f.kernel, (uint64_t)(uintptr_t)p, &q);
					EXPECT_EQ(q.region, VMM_KREGION_HEAP);
					EXPECT_EQ(q.pages, pages_of(size));
				}
				EXPECT_EQ(kfree_within_bound(&heap, p,
							     size <= SLAB_MAX_OBJECT ? 0 : pages_of(size),
							     &freed),
					  VM_OK);
			}
		}
		testing_note("%s: kmalloc small worst slab work %llu (bound %u), VMM %llu (bound %llu); "
			     "large worst VMM %llu (bound %llu); kfree worst slab %llu (bound %u), VMM "
			     "%llu (bound %llu)",
			     f.kernel.backend->name, (unsigned long long)small.slab,
			     SLAB_ALLOC_WORK_BOUND(&heap.classes[0]), (unsigned long long)small.vmm,
			     (unsigned long long)small.vmm_bound, (unsigned long long)large.vmm,
			     (unsigned long long)large.vmm_bound, (unsigned long long)freed.slab,
			     KFREE_SMALL_WORK_BOUND, (unsigned long long)freed.vmm,
			     (unsigned long long)freed.vmm_bound);
		EXPECT_EQ(kmalloc_destroy(&heap), 0);
		kmem_fixture_fini(&f);
	}
}

/*
 * kmalloc(8) on 16 slabs whose only free object is the last bit of the last bitmap word costs
 * exactly the stated 9, and the kfrees that made that pattern stay within 3.
 */
TEST(kmalloc_small_work_is_bounded_when_only_the_last_bit_is_free)
{
	struct kmem_fixture f;
	ASSERT_TRUE(kmem_fixture_init(&f, 4096, VMM_BACKEND_LIST));
	struct kmalloc_heap heap;
	ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &f.slabs, VMM_KREGION_HEAP }), VM_OK);
	enum { SLABS = 16 };
	uint32_t per_slab = heap.classes[0].objects_per_slab;
	static void *objects[SLABS * 512];
	struct worst_work filling = { 0 }, freeing = { 0 }, last_bit = { 0 };
	for (unsigned i = 0; i < SLABS * per_slab; i++)
		ASSERT_TRUE((objects[i] = kmalloc_within_bound(&heap, 8, &filling)) != NULL);
	for (unsigned s = 0; s < SLABS; s++)
		EXPECT_EQ(kfree_within_bound(&heap, objects[s * per_slab + per_slab - 1], 0, &freeing),
			  VM_OK);
	for (unsigned s = 0; s < SLABS; s++)
		ASSERT_TRUE(kmalloc_within_bound(&heap, 1, &last_bit) != NULL);
	EXPECT_EQ(last_bit.slab, SLAB_ALLOC_WORK_BOUND(&heap.classes[0]));
	EXPECT_EQ(last_bit.vmm, 0);
	EXPECT_EQ(freeing.slab, KFREE_SMALL_WORK_BOUND);
	testing_note("kmalloc(1) worst slab work %llu on last-bit slabs (bound %u); kfree %llu (bound %u)",
		     (unsigned long long)last_bit.slab, SLAB_ALLOC_WORK_BOUND(&heap.classes[0]),
		     (unsigned long long)freeing.slab, KFREE_SMALL_WORK_BOUND);
	EXPECT_EQ(kmalloc_destroy(&heap), SLABS * per_slab);
	kmem_fixture_fini(&f);
}

/*
 * kfree of an invalid pointer in the middle of a large allocation (every page of it), of a
 * released one and of a foreign one costs no slab work and one VMM query within work_bound(1),
 * even with the heap region holed by 500 alternating released allocations.
 */
TEST(kfree_of_invalid_large_pointers_costs_one_bounded_query)
{
	for (unsigned b = 0; b < ARRAY_SIZE(bound_backends); b++) {
		struct kmem_fixture f;
		ASSERT_TRUE(kmem_fixture_init(&f, 8192, bound_backends[b]));
		struct kmalloc_heap heap;
		ASSERT_EQ(kmalloc_init(&heap, &(struct kmalloc_config){ &f.slabs, VMM_KREGION_HEAP }), VM_OK);
		enum { HOLES = 1000, BIG_PAGES = 1000 };
		static char *spaced[HOLES];
		struct worst_work allocs = { 0 }, valid = { 0 }, invalid = { 0 };
		for (unsigned i = 0; i < HOLES; i++)
			ASSERT_TRUE((spaced[i] = kmalloc_within_bound(&heap, 3 * PAGE_SIZE, &allocs)) != NULL);
		for (unsigned i = 0; i < HOLES; i += 2)
			EXPECT_EQ(kfree_within_bound(&heap, spaced[i], 3, &valid), VM_OK);
		char *big = kmalloc_within_bound(&heap, BIG_PAGES * PAGE_SIZE, &allocs);
		ASSERT_TRUE(big != NULL);
		for (uint64_t page = 1; page < BIG_PAGES; page++)
			EXPECT_EQ(kfree_within_bound(&heap, big + page * PAGE_SIZE + 8 * (page % 2), 0,
						     &invalid),
				  VM_ERR_FOREIGN_POINTER);
		EXPECT_EQ(kfree_within_bound(&heap, spaced[0], 0, &invalid), VM_ERR_DOUBLE_FREE);
		EXPECT_EQ(kfree_within_bound(&heap, &heap, 0, &invalid), VM_ERR_FOREIGN_POINTER);
		EXPECT_EQ(invalid.slab, 0);
		EXPECT_EQ(heap.large_allocations, HOLES / 2 + 1);
		EXPECT_EQ(kfree_within_bound(&heap, big, BIG_PAGES, &valid), VM_OK);
		for (unsigned i = 1; i < HOLES; i += 2)
			EXPECT_EQ(kfree_within_bound(&heap, spaced[i], 3, &valid), VM_OK);
		testing_note("%s: kfree of an invalid large pointer worst VMM work %llu (bound %llu); "
			     "valid kfree %llu (bound %llu); kmalloc large %llu (bound %llu)",
			     f.kernel.backend->name, (unsigned long long)invalid.vmm,
			     (unsigned long long)invalid.vmm_bound, (unsigned long long)valid.vmm,
			     (unsigned long long)valid.vmm_bound, (unsigned long long)allocs.vmm,
			     (unsigned long long)allocs.vmm_bound);
		EXPECT_EQ(kmalloc_destroy(&heap), 0);
		vmm_context_destroy(&f.kernel);
		EXPECT_EQ(f.ts.pages_out, 0);
		test_source_fini(&f.ts);
	}
}
