/*
 * In-kernel tests of the VMM on real page tables, run with whichever backend `vmm=` chose: address
 * spaces are switched with CR3 and memory is touched for real, so a wrong entry faults here.
 */
#include "kernel/arch/amd64/cpu.h"
#include "kernel/arch/amd64/exceptions.h"
#include "kernel/arch/amd64/vm.h"
#include "kernel/core/memory.h"
#include "kernel/lib/testing.h"
#include "tests/kernel/fault_probe.h"

/* Free pages plus the pmm's own record pages: what must come back when everything is freed. */
static uint64_t pages_not_in_use(void)
{
	struct pmm_stats s;
	page_allocator_stats(&kernel_pmm, &s);
	return s.free_pages + s.metadata_pages;
}


/* Creating and destroying contexts that used memory, 200 times, leaks no page. */
TEST(vmm_contexts_created_and_destroyed_in_a_loop_leak_nothing)
{
	uint64_t before = pages_not_in_use();
	for (int i = 0; i < 200; i++) {
		struct vmm_context ctx;
		ASSERT_EQ(memory_user_context_create(&ctx), VM_OK);
		uint64_t addr, brk;
		ASSERT_EQ(vmm_alloc(&ctx, VMM_UREGION_MMAP, 1 + i % 7, PT_READ | PT_WRITE | PT_USER, &addr), VM_OK);
		ASSERT_EQ(vmm_brk(&ctx, USER_HEAP_BASE + (uint64_t)(i % 5 + 1) * PAGE_SIZE, &brk), VM_OK);
		vmm_context_destroy(&ctx);
	}
	EXPECT_EQ(pages_not_in_use(), before);
}

/* A write to a page made read-only faults as a protection violation; reads still work. */
TEST(vmm_write_to_read_only_page_faults)
{
	uint64_t addr;
	ASSERT_EQ(vmm_alloc(&kernel_vmm, VMM_KREGION_HEAP, 1, PT_READ | PT_WRITE, &addr), VM_OK);
	*(volatile uint64_t *)addr = 0x1234;
	ASSERT_EQ(vmm_protect(&kernel_vmm, addr, 1, PT_READ), VM_OK);
	EXPECT_TRUE(page_fault_at(probe_write, (void *)addr, PF_PRESENT | PF_WRITE, 0));
	EXPECT_EQ(*(volatile uint64_t *)addr, 0x1234);
	EXPECT_EQ(vmm_release(&kernel_vmm, addr, 1), VM_OK);
	EXPECT_TRUE(page_fault_at(probe_read, (void *)addr, 0, 0)); /* released: not mapped any more */
}

/* Executing from a non-executable page faults as an instruction fetch; made executable, it runs. */
TEST(vmm_execute_of_nx_page_faults_and_executable_page_runs)
{
	uint64_t addr;
	ASSERT_EQ(vmm_alloc(&kernel_vmm, VMM_KREGION_HEAP, 1, PT_READ | PT_WRITE, &addr), VM_OK);
	*(volatile uint8_t *)addr = 0xC3; /* ret */
	EXPECT_TRUE(page_fault_at(probe_call, (void *)addr, PF_PRESENT | PF_INSTRUCTION_FETCH, 0));
	EXPECT_EQ(vmm_protect(&kernel_vmm, addr, 1, PT_READ | PT_WRITE | PT_EXECUTE), VM_ERR_WRITE_EXECUTE);
	ASSERT_EQ(vmm_protect(&kernel_vmm, addr, 1, PT_READ | PT_EXECUTE), VM_OK);
	struct fault_record f;
	EXPECT_FALSE(fault_catch(probe_call, (void *)addr, &f));
	EXPECT_TRUE(page_fault_at(probe_write, (void *)addr, PF_PRESENT | PF_WRITE, 0)); /* W^X */
	EXPECT_EQ(vmm_release(&kernel_vmm, addr, 1), VM_OK);
}

/* brk grows the heap contiguously with usable zeroed pages and shrinking unmaps the tail. */
TEST(vmm_brk_grows_and_shrinks_in_a_live_address_space)
{
	struct vmm_context ctx;
	ASSERT_EQ(memory_user_context_create(&ctx), VM_OK);
	uint64_t brk = 0, start = 0;
	EXPECT_EQ(vmm_brk(&ctx, 0, &start), VM_OK);
	EXPECT_EQ(start, USER_HEAP_BASE);
	EXPECT_EQ(vmm_brk(&ctx, start + 3 * PAGE_SIZE + 100, &brk), VM_OK);
	vmm_context_activate(&ctx);
	uint64_t nonzero = 0;
	for (uint64_t off = 0; off < 4 * PAGE_SIZE; off += 8) {
		volatile uint64_t *p = (volatile uint64_t *)(start + off);
		nonzero += *p != 0;
		*p = off;
	}
	uint64_t wrong = 0;
	for (uint64_t off = 0; off < 4 * PAGE_SIZE; off += 8)
		wrong += *(volatile uint64_t *)(start + off) != off;
	EXPECT_EQ(vmm_brk(&ctx, start + PAGE_SIZE, &brk), VM_OK);
	bool tail_faults = page_fault_at(probe_read, (void *)(start + PAGE_SIZE), 0, 0);
	bool head_kept = *(volatile uint64_t *)(start + 8) == 8;
	vmm_context_activate(&kernel_vmm);
	EXPECT_EQ(nonzero, 0);
	EXPECT_EQ(wrong, 0);
	EXPECT_TRUE(tail_faults);
	EXPECT_TRUE(head_kept);
	vmm_context_destroy(&ctx);
}

/* A shared-memory object written through one address space is read through the other. */
TEST(vmm_shared_memory_is_visible_from_both_contexts)
{
	uint64_t before = pages_not_in_use();
	struct vmm_context a, b;
	struct vmm_shm shm;
	ASSERT_EQ(memory_user_context_create(&a), VM_OK);
	ASSERT_EQ(memory_user_context_create(&b), VM_OK);
	ASSERT_EQ(vmm_shm_create(&shm, &kernel_page_source, 2), VM_OK);
	uint64_t in_a, in_b;
	ASSERT_EQ(vmm_shm_attach(&a, &shm, PT_READ | PT_WRITE | PT_USER, &in_a), VM_OK);
	ASSERT_EQ(vmm_shm_attach(&b, &shm, PT_READ | PT_WRITE | PT_USER, &in_b), VM_OK);

	vmm_context_activate(&a);
	*(volatile uint64_t *)(in_a + PAGE_SIZE + 16) = 0xfeedface;
	vmm_context_activate(&b);
	uint64_t seen_in_b = *(volatile uint64_t *)(in_b + PAGE_SIZE + 16);
	*(volatile uint64_t *)in_b = 0xabad1dea;
	vmm_context_activate(&a);
	uint64_t seen_in_a = *(volatile uint64_t *)in_a;
	vmm_context_activate(&kernel_vmm);

	EXPECT_EQ(seen_in_b, 0xfeedface);
	EXPECT_EQ(seen_in_a, 0xabad1dea);
	EXPECT_EQ(vmm_shm_detach(&a, in_a), VM_OK);
	vmm_shm_put(&shm);
	EXPECT_EQ(shm.refs, 1); /* b still holds the pages */
	vmm_context_destroy(&b);
	vmm_context_destroy(&a);
	EXPECT_EQ(pages_not_in_use(), before);
}

/* kmalloc serves every size class and large sizes with writable memory; bad frees are refused. */
TEST(vmm_kmalloc_every_size_class)
{
	static const size_t sizes[] = { 1, 8, 9, 16, 24, 32, 64, 100, 128, 256, 512, 1000, 1024, 2048,
					2049, 4096, 10000, 65536, 1 << 20, 3 << 20 };
	uint64_t before = pages_not_in_use();
	void *ptrs[ARRAY_SIZE(sizes)];
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		ptrs[i] = kmalloc(&kernel_heap, sizes[i]);
		ASSERT_TRUE(ptrs[i] != NULL);
		EXPECT_TRUE(IS_ALIGNED((uintptr_t)ptrs[i], 8));
		memset(ptrs[i], (int)i + 1, sizes[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		const uint8_t *p = ptrs[i];
		uint64_t wrong = 0;
		for (size_t k = 0; k < sizes[i]; k++)
			wrong += p[k] != (uint8_t)(i + 1);
		EXPECT_EQ(wrong, 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		EXPECT_EQ(kfree(&kernel_heap, ptrs[i]), VM_OK);
	EXPECT_EQ(kmalloc(&kernel_heap, 0), NULL);
	EXPECT_EQ(pages_not_in_use(), before);
}

/* Double frees and pointers kmalloc never returned are refused, and nothing changes. */
TEST(vmm_kfree_refuses_double_and_foreign_frees)
{
	uint64_t before = pages_not_in_use();
	void *keep = kmalloc(&kernel_heap, 64), *object = kmalloc(&kernel_heap, 64);
	void *large = kmalloc(&kernel_heap, 5 * PAGE_SIZE);
	ASSERT_TRUE(keep && object && large);
	EXPECT_EQ(kfree(&kernel_heap, object), VM_OK);
	EXPECT_EQ(kfree(&kernel_heap, object), VM_ERR_DOUBLE_FREE); /* its slab is still live */
	EXPECT_EQ(kfree(&kernel_heap, (char *)keep + 8), VM_ERR_FOREIGN_POINTER); /* inside an object */
	EXPECT_EQ(kfree(&kernel_heap, (char *)large + PAGE_SIZE), VM_ERR_FOREIGN_POINTER);
	uint64_t on_stack = 0;
	EXPECT_EQ(kfree(&kernel_heap, &on_stack), VM_ERR_FOREIGN_POINTER);
	EXPECT_EQ(kfree(&kernel_heap, large), VM_OK);
	EXPECT_NE(kfree(&kernel_heap, large), VM_OK); /* released: refused, whatever it is called */
	EXPECT_EQ(kfree(&kernel_heap, keep), VM_OK);
	EXPECT_EQ(pages_not_in_use(), before);
}

struct owner_probe {
	paddr_t pa;
	enum mm_owner owner;
};

static bool find_owner(void *cookie, const struct pmm_region_info *region)
{
	struct owner_probe *probe = cookie;
	if (probe->pa >= region->base && probe->pa - region->base < region->pages * PAGE_SIZE) {
		probe->owner = region->owner;
		return false;
	}
	return true;
}

/* The pmm's record of a slab page says slab and of a large kmalloc page heap: traces tell them apart. */
TEST(vmm_slab_pages_are_tagged_slab_and_heap_pages_heap)
{
	struct slab_cache cache;
	ASSERT_EQ(slab_cache_init(&cache, "owner-probe", 512, &kernel_slabs), VM_OK);
	void *object = slab_alloc(&cache), *large = kmalloc(&kernel_heap, 3 * PAGE_SIZE);
	ASSERT_TRUE(object && large);
	struct pt_translation t;
	ASSERT_EQ(pt_translate(&kernel_vmm.pt, (uint64_t)(uintptr_t)object, &t), VM_OK);
	struct owner_probe probe = { .pa = t.pa, .owner = MM_OWNER_NONE };
	page_allocator_for_each_used(&kernel_pmm, find_owner, &probe);
	EXPECT_EQ(probe.owner, MM_OWNER_SLAB);
	ASSERT_EQ(pt_translate(&kernel_vmm.pt, (uint64_t)(uintptr_t)large, &t), VM_OK);
	probe = (struct owner_probe){ .pa = t.pa, .owner = MM_OWNER_NONE };
	page_allocator_for_each_used(&kernel_pmm, find_owner, &probe);
	EXPECT_EQ(probe.owner, MM_OWNER_HEAP);
	EXPECT_EQ(slab_free(&cache, object), VM_OK);
	EXPECT_EQ(kfree(&kernel_heap, large), VM_OK);
	EXPECT_EQ(slab_cache_destroy(&cache), 0);
}
