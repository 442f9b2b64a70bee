/*
 * Slab allocator: fixed-size objects carved from 4 KiB slab pages placed in one region of the
 * kernel context (the cache's arena) through the VMM; the pages are tagged MM_OWNER_SLAB.
 *
 * Invariants:
 *   - Each slab page starts with a slab_header (magic, owning cache, allocation bitmap); objects
 *     follow at multiples of object_size from objects_offset.
 *   - A slab is on exactly one list: `partial` while it has a free object, `full` otherwise; a slab
 *     with no object in use is returned immediately (no empty slabs are cached).
 *   - Bit i of the bitmap is set iff object i is allocated, so a double free or a pointer that was
 *     never handed out is detected without reading the object (freed objects may be poisoned).
 *
 * Bounds, in arena->work units (one per slab header looked up, through the partial list or a
 * page-table translation, and one per bitmap word read; W = slab_bitmap_words(cache) <= 8):
 *   - slab_alloc <= 1 + W (SLAB_ALLOC_WORK_BOUND): it takes the head of the partial list, whatever
 *     the number of slabs, and scans one bitmap; the worst case is a slab whose only free object
 *     is the last bit of its last word. With no partial slab, the header looked up is that of a
 *     new slab, got by one vmm_alloc of one page (one VMM reserve+map: backend work at most twice
 *     the backend's work_bound(1), the reserve's search plus the map's reservation check).
 *   - slab_free <= 2 (SLAB_FREE_WORK_BOUND): one header, one bitmap word, for a valid pointer as
 *     for any refused one (0 outside the arena). A free that empties its slab adds one
 *     vmm_release of one page (backend work at most work_bound(1)); debug builds also write
 *     object_size bytes of poison.
 *   - slab_cache_of, slab_owns: 1 header. slab_arena_init, slab_cache_init: no work, O(1).
 *   - slab_cache_destroy: one header and one vmm_release per live slab.
 *   List moves are O(1) (intrusive doubly-linked lists) and not counted. Nothing is amortised:
 *   empty slabs are not cached, so alternating alloc and free at a slab boundary pays one VMM
 *   reserve+map and one release every time, each still within the bounds above.
 */
#include "slab.h"
#include "kernel/trace/tracepoints.h"

#define SLAB_MAGIC 0x51AB51AB51AB51ABull
#define SLAB_BITMAP_WORDS 8 /* 512 objects at the 8-byte minimum */
#define SLAB_POISON 0x6B

struct slab_header {
	uint64_t magic;
	const struct slab_cache *cache;
	uint64_t slab_va; /* where the slab is mapped in the slab region */
	struct list_node link; /* in the cache's partial or full list */
	uint32_t in_use;
	uint32_t objects_offset;
	uint64_t allocated[SLAB_BITMAP_WORDS];
};

static uint32_t objects_offset(uint32_t object_size)
{
	uint32_t header = (uint32_t)sizeof(struct slab_header);
	uint32_t align = object_size >= 64 ? 64 : object_size;
	return (uint32_t)ALIGN_UP(header, align);
}

enum vm_status slab_arena_init(struct slab_arena *arena, struct vmm_context *kernel,
			       unsigned region)
{
	if (kernel->kind != VMM_CONTEXT_KERNEL || region >= kernel->region_count ||
	    kernel->regions[region].owner != MM_OWNER_SLAB)
		return VM_ERR_INVALID;
	*arena = (struct slab_arena){ .kernel = kernel, .region = region };
	return VM_OK;
}

enum vm_status slab_cache_init(struct slab_cache *cache, const char *name, size_t object_size,
			       struct slab_arena *arena)
{
	if (object_size < SLAB_MIN_OBJECT || object_size > SLAB_MAX_OBJECT)
		return VM_ERR_INVALID;
	uint32_t size = (uint32_t)ALIGN_UP(object_size, (size_t)8);
	uint32_t count = (uint32_t)((PAGE_SIZE - objects_offset(size)) / size);
	*cache = (struct slab_cache){
		.name = name,
		.trace_id = arena->next_trace_id++,
		.object_size = size,
		.objects_per_slab = MIN(count, SLAB_BITMAP_WORDS * 64u),
		.arena = arena,
	};
	list_init(&cache->partial);
	list_init(&cache->full);
	trace_slab_cache_create(size, cache->trace_id, name);
	return VM_OK;
}

/* Moves slab s (on one of the cache's lists) to the front of `list`. */
static void move_to(struct list_node *list, struct slab_header *s)
{
	list_remove(&s->link);
	list_push_front(list, &s->link);
}

/*
 * The header of the slab mapped at slab_va, through the direct map; NULL if nothing is mapped.
 * One unit of work (a header looked up), found or not.
 */
static struct slab_header *header_at(const struct slab_cache *cache, uint64_t slab_va)
{
	struct pt_translation t;
	cache->arena->work++;
	if (pt_translate(&cache->arena->kernel->pt, slab_va, &t) != VM_OK)
		return NULL;
	return phys_to_virt(t.pa);
}

static struct slab_header *new_slab(struct slab_cache *cache)
{
	uint64_t va;
	if (vmm_alloc(cache->arena->kernel, cache->arena->region, 1, PT_READ | PT_WRITE | PT_GLOBAL,
		      &va) != VM_OK)
		return NULL;
	struct slab_header *s = header_at(cache, va);
	*s = (struct slab_header){
		.magic = SLAB_MAGIC,
		.cache = cache,
		.slab_va = va,
		.objects_offset = objects_offset(cache->object_size),
	};
	list_push_front(&cache->partial, &s->link);
	cache->slabs++;
	return s;
}

static void free_slab(struct slab_cache *cache, struct slab_header *s)
{
	s->magic = 0;
	list_remove(&s->link);
	enum vm_status st = vmm_release(cache->arena->kernel, s->slab_va, 1);
	MM_ASSERT(st == VM_OK, "free_slab: %s slab %llx: %s", cache->name,
		  (unsigned long long)s->slab_va, vm_status_name(st));
	cache->slabs--;
}

/* Reads bitmap words up to the first with a free bit: at most slab_bitmap_words() of them. */
static int first_free_object(struct slab_arena *arena, const struct slab_header *s, uint32_t count)
{
	for (unsigned w = 0; w * 64 < count; w++) {
		arena->work++;
		uint64_t free_bits = ~s->allocated[w];
		if (free_bits) {
			unsigned i = w * 64 + (unsigned)__builtin_ctzll(free_bits);
			return i < count ? (int)i : -1;
		}
	}
	return -1;
}

void *slab_alloc(struct slab_cache *cache)
{
	uint64_t start = trace_cost_start();
	struct slab_header *s;
	if (list_is_empty(&cache->partial)) {
		s = new_slab(cache); /* its header_at() is this call's header lookup */
		if (!s)
			return NULL;
	} else {
		cache->arena->work++;
		s = container_of(list_first(&cache->partial), struct slab_header, link);
	}
	int i = first_free_object(cache->arena, s, cache->objects_per_slab);
	MM_ASSERT(i >= 0, "slab_alloc: %s slab on the partial list is full", cache->name);
	s->allocated[i / 64] |= 1ull << (i % 64);
	s->in_use++;
	cache->objects_in_use++;
	if (s->in_use == cache->objects_per_slab)
		move_to(&cache->full, s);
	uint64_t object = s->slab_va + s->objects_offset + (uint64_t)i * cache->object_size;
	trace_slab_alloc(object, cache->trace_id, trace_cost_since(start));
	return (void *)(uintptr_t)object;
}

/* The slab holding ptr and the object's index, or NULL if ptr is not one of our objects. */
static struct slab_header *locate(const struct slab_cache *cache, const void *ptr, uint32_t *index)
{
	uint64_t va = (uint64_t)(uintptr_t)ptr;
	if (!slab_arena_contains(cache->arena, ptr))
		return NULL;
	struct slab_header *s = header_at(cache, ALIGN_DOWN(va, PAGE_SIZE));
	if (!s || s->magic != SLAB_MAGIC || s->cache != cache)
		return NULL;
	uint64_t offset = va - s->slab_va;
	if (offset < s->objects_offset || (offset - s->objects_offset) % cache->object_size != 0)
		return NULL;
	*index = (uint32_t)((offset - s->objects_offset) / cache->object_size);
	return *index < cache->objects_per_slab ? s : NULL;
}

bool slab_arena_contains(const struct slab_arena *arena, const void *ptr)
{
	const struct vmm_region *r = &arena->kernel->regions[arena->region];
	return (uint64_t)(uintptr_t)ptr - r->base < r->pages * PAGE_SIZE;
}

struct slab_cache *slab_cache_of(struct slab_arena *arena, const void *ptr)
{
	uint64_t va = (uint64_t)(uintptr_t)ptr;
	if (!slab_arena_contains(arena, ptr))
		return NULL;
	arena->work++;
	struct pt_translation t;
	if (pt_translate(&arena->kernel->pt, ALIGN_DOWN(va, PAGE_SIZE), &t) != VM_OK)
		return NULL;
	const struct slab_header *s = phys_to_virt(t.pa);
	return s->magic == SLAB_MAGIC ? (struct slab_cache *)s->cache : NULL;
}

bool slab_owns(const struct slab_cache *cache, const void *ptr)
{
	uint32_t index;
	return locate(cache, ptr, &index) != NULL;
}

void *slab_host_view(const struct slab_cache *cache, const void *ptr)
{
	struct pt_translation t;
	if (pt_translate(&cache->arena->kernel->pt, (uint64_t)(uintptr_t)ptr, &t) != VM_OK)
		return NULL;
	return phys_to_virt(t.pa);
}

enum vm_status slab_free(struct slab_cache *cache, void *ptr)
{
	uint64_t start = trace_cost_start();
	uint32_t i;
	struct slab_header *s = locate(cache, ptr, &i);
	if (!s) {
		mm_log("slab_free: %s: %p is not an object of this cache\n", cache->name, ptr);
		return VM_ERR_FOREIGN_POINTER;
	}
	cache->arena->work++;
	if (!(s->allocated[i / 64] & (1ull << (i % 64)))) {
		mm_log("slab_free: %s: double free of %p\n", cache->name, ptr);
		return VM_ERR_DOUBLE_FREE;
	}
	trace_slab_free((uint64_t)(uintptr_t)ptr, cache->trace_id, trace_cost_since(start));
#ifndef NDEBUG
	memset((char *)s + s->objects_offset + (uint64_t)i * cache->object_size, SLAB_POISON,
	       cache->object_size);
#endif
	if (s->in_use == cache->objects_per_slab)
		move_to(&cache->partial, s);
	s->allocated[i / 64] &= ~(1ull << (i % 64));
	s->in_use--;
	cache->objects_in_use--;
	if (s->in_use == 0)
		free_slab(cache, s);
	return VM_OK;
}

uint64_t slab_cache_destroy(struct slab_cache *cache)
{
	uint64_t leaked = cache->objects_in_use;
	if (leaked)
		mm_log("slab_cache_destroy: %s: %llu objects still allocated\n", cache->name,
		       (unsigned long long)leaked);
	struct list_node *lists[] = { &cache->partial, &cache->full };
	for (unsigned l = 0; l < ARRAY_SIZE(lists); l++)
		while (!list_is_empty(lists[l])) {
			cache->arena->work++;
			free_slab(cache, container_of(list_first(lists[l]), struct slab_header, link));
		}
	cache->objects_in_use = 0;
	return leaked;
}
