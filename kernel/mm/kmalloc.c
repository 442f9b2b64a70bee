/*
 * kmalloc: small sizes from power-of-two slab caches (8 .. 2048 bytes), large sizes as their own
 * reservation in the configured heap region, backed by owned pages through vmm_alloc.
 *
 * Invariants:
 *   - A small pointer lies in the slab arena's region and belongs to exactly one size class.
 *   - A large pointer is the first page of a heap-region reservation; the reservation's length
 *     (vmm_query) is the allocation's size, so no header is needed and kfree can tell a pointer
 *     inside an allocation or an already released one from a valid one.
 *
 * Bounds. kmalloc adds no search of its own: a size class is two ilog2s, a large pointer is
 * checked by one vmm_query. So its cost is that of the allocator it calls, in that allocator's
 * units (slab work in heap->slabs->work, VMM backend work in kernel->backend_work):
 *   - kmalloc(size <= 2048): one slab_alloc of class c(size): <= SLAB_ALLOC_WORK_BOUND of the
 *     class (at most 9, for kmalloc-8), plus one VMM reserve+map of one page when the class has
 *     no free object (backend work <= 2 * work_bound(1), see slab.c).
 *   - kmalloc(size > 2048): no slab work; one vmm_alloc of p = ceil(size / 4 KiB) pages: backend
 *     work <= 2 * work_bound(p) (the reserve's search and mark, the map's reservation check),
 *     plus p page-source allocations and p PTE writes, which are the allocation itself.
 *   - kfree of a slab-region pointer: <= KFREE_SMALL_WORK_BOUND = 3 (slab_cache_of's header
 *     lookup, then slab_free's header and bitmap word), refused or not, plus one VMM release of
 *     one page when the slab empties.
 *   - kfree of any other pointer (large, interior, double, foreign): no slab work; one vmm_query
 *     (backend work <= work_bound(1)) and, for a valid pointer, one vmm_release of the
 *     allocation's p pages (<= work_bound(p), plus p PTE clears).
 *   - kmalloc_init: O(1) (nine cache inits). kmalloc_destroy: one header and one VMM release
 *     per live slab, as slab_cache_destroy.
 *   Nothing here is amortised; whatever the VMM backend amortises (record pages of the list
 *   backend, page-table pages) is inside its own work_bound.
 */
#include "kmalloc.h"
#include "kernel/trace/tracepoints.h"

static const char *const class_names[KMALLOC_CLASSES] = {
	"kmalloc-8", "kmalloc-16", "kmalloc-32", "kmalloc-64", "kmalloc-128",
	"kmalloc-256", "kmalloc-512", "kmalloc-1k", "kmalloc-2k",
};

enum vm_status kmalloc_init(struct kmalloc_heap *heap, const struct kmalloc_config *config)
{
	struct vmm_context *kernel = config->slabs->kernel;
	if (config->heap_region >= kernel->region_count || config->heap_region == config->slabs->region)
		return VM_ERR_INVALID;
	*heap = (struct kmalloc_heap){
		.kernel = kernel,
		.slabs = config->slabs,
		.heap_region = config->heap_region,
	};
	for (unsigned i = 0; i < KMALLOC_CLASSES; i++) {
		enum vm_status st = slab_cache_init(&heap->classes[i], class_names[i],
						    (size_t)SLAB_MIN_OBJECT << i, heap->slabs);
		if (st != VM_OK)
			return st;
	}
	return VM_OK;
}

static unsigned class_of(size_t size)
{
	return size <= SLAB_MIN_OBJECT ? 0 : ilog2_u64(size - 1) + 1 - ilog2_u64(SLAB_MIN_OBJECT);
}

/* Requested and given sizes are traced as u32: larger sizes saturate. */
static uint32_t trace_bytes(uint64_t bytes)
{
	return bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
}

/* `start`: trace_cost_start() at kmalloc's entry (tracepoints.h), for the event's cost. */
static void *kmalloc_small(struct kmalloc_heap *heap, size_t size, uint64_t start)
{
	struct slab_cache *cache = &heap->classes[class_of(size)];
	void *ptr = slab_alloc(cache);
	if (ptr)
		trace_kmalloc((uint64_t)(uintptr_t)ptr, trace_bytes(size), cache->object_size,
			      trace_cost_since(start));
	return ptr;
}

static void *kmalloc_large(struct kmalloc_heap *heap, size_t size, uint64_t start)
{
	uint64_t va;
	uint64_t pages = ALIGN_UP((uint64_t)size, PAGE_SIZE) / PAGE_SIZE;
	if (pages > heap->kernel->regions[heap->heap_region].pages ||
	    vmm_alloc(heap->kernel, heap->heap_region, pages, PT_READ | PT_WRITE | PT_GLOBAL, &va) != VM_OK)
		return NULL;
	heap->large_allocations++;
	trace_kmalloc(va, trace_bytes(size), trace_bytes(pages * PAGE_SIZE), trace_cost_since(start));
	return (void *)(uintptr_t)va;
}

void *kmalloc(struct kmalloc_heap *heap, size_t size)
{
	uint64_t start = trace_cost_start();
	if (size == 0)
		return NULL;
	void *ptr = size <= SLAB_MAX_OBJECT ? kmalloc_small(heap, size, start) :
					      kmalloc_large(heap, size, start);
	if (!ptr)
		trace_kmalloc_fail(trace_bytes(size));
	return ptr;
}

static enum vm_status kfree_large(struct kmalloc_heap *heap, void *ptr, uint64_t start)
{
	struct vmm_query_result q;
	vmm_query(heap->kernel, (uint64_t)(uintptr_t)ptr, &q);
	if (q.region != heap->heap_region)
		return VM_ERR_FOREIGN_POINTER;
	if (q.state == VMM_PAGE_FREE) {
		mm_log("kfree: double free of %p (or never allocated)\n", ptr);
		return VM_ERR_DOUBLE_FREE;
	}
	if (q.start != (uint64_t)(uintptr_t)ptr) {
		mm_log("kfree: %p is inside an allocation, not at its start\n", ptr);
		return VM_ERR_FOREIGN_POINTER;
	}
	trace_kfree(q.start, trace_bytes(q.pages * PAGE_SIZE), trace_cost_since(start));
	enum vm_status st = vmm_release(heap->kernel, q.start, q.pages);
	MM_ASSERT(st == VM_OK, "kfree_large: release of %p failed: %s", ptr, vm_status_name(st));
	heap->large_allocations--;
	return VM_OK;
}

enum vm_status kfree(struct kmalloc_heap *heap, void *ptr)
{
	uint64_t start = trace_cost_start();
	uint64_t va = (uint64_t)(uintptr_t)ptr;
	if (slab_arena_contains(heap->slabs, ptr)) {
		struct slab_cache *cache = slab_cache_of(heap->slabs, ptr);
		if (cache >= &heap->classes[0] && cache < &heap->classes[KMALLOC_CLASSES]) {
			enum vm_status st = slab_free(cache, ptr);
			if (st == VM_OK)
				trace_kfree(va, cache->object_size, trace_cost_since(start));
			return st;
		}
		/* Includes a double free whose slab has been returned since: nothing of ours is there. */
		mm_log("kfree: %p is not a kmalloc object\n", ptr);
		return VM_ERR_FOREIGN_POINTER;
	}
	enum vm_status st = kfree_large(heap, ptr, start);
	if (st == VM_ERR_FOREIGN_POINTER)
		mm_log("kfree: %p was not allocated by kmalloc\n", ptr);
	return st;
}

void *kmalloc_host_view(const struct kmalloc_heap *heap, const void *ptr)
{
	return slab_host_view(&heap->classes[0], ptr);
}

uint64_t kmalloc_destroy(struct kmalloc_heap *heap)
{
	uint64_t leaked = heap->large_allocations;
	for (unsigned i = 0; i < KMALLOC_CLASSES; i++)
		leaked += slab_cache_destroy(&heap->classes[i]);
	return leaked;
}
