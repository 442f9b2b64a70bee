/*
 * Object caches for fixed-size kernel objects. Each slab is one 4 KiB page reserved and mapped
 * through the VMM in a region of the kernel context (the slab arena, chosen by whoever configures
 * it: the kernel's is VMM_KREGION_SLAB), backed by a page from the context's page source tagged
 * MM_OWNER_SLAB (the region's owner tag).
 *
 * Pointers handed out are slab-region virtual addresses. The cache itself touches slab memory only
 * through the direct map (phys_to_virt), so the same code runs on the host, where kernel-half
 * addresses cannot be dereferenced (host tests use slab_host_view()).
 *
 * Cost (counted in arena->work: slab headers looked up plus bitmap words read; proof in slab.c),
 * independent of the number of slabs, partial slabs or objects:
 *   slab_alloc          <= SLAB_ALLOC_WORK_BOUND(cache) = 1 + slab_bitmap_words(cache) (<= 9),
 *                          plus one VMM reserve+map of one page when no slab has a free object
 *                          (backend work <= 2 * the backend's work_bound(1))
 *   slab_free           <= SLAB_FREE_WORK_BOUND = 2, valid pointer or not, plus one VMM release
 *                          of one page (<= work_bound(1)) when the slab empties
 *   slab_cache_of/owns  <= 1;  slab_arena_init, slab_cache_init: 0, O(1)
 *   slab_cache_destroy  =  one header and one VMM release per live slab
 * Nothing is amortised: no empty slab is kept, so each op pays its own VMM calls.
 */
#ifndef PAGESCOPE_MM_SLAB_H
#define PAGESCOPE_MM_SLAB_H

#include "vmm.h"

#define SLAB_MIN_OBJECT 8u
#define SLAB_MAX_OBJECT 2048u

struct slab_header; /* at the start of each slab page, see slab.c */

/* Where a set of caches places its slabs, and their numbering in the trace. */
struct slab_arena {
	struct vmm_context *kernel;
	unsigned region;           /* the kernel context's region slabs are placed in */
	uint16_t next_trace_id;    /* trace id of the next cache created in this arena */
	/*
	 * Slab headers looked up and bitmap words read by every cache of this arena: the unit of
	 * the bounds above. Only ever increases; callers read differences.
	 */
	uint64_t work;
};

struct slab_cache {
	const char *name;
	uint16_t trace_id;         /* the cache id in trace events, in creation order in its arena */
	uint32_t object_size;      /* rounded up to 8 */
	uint32_t objects_per_slab;
	struct slab_arena *arena;
	struct list_node partial;  /* slabs with a free object */
	struct list_node full;
	uint64_t slabs;
	uint64_t objects_in_use;
};

/* Bitmap words a slab of this cache uses: ceil(objects_per_slab / 64), at most 8. */
static inline uint32_t slab_bitmap_words(const struct slab_cache *cache)
{
	return (cache->objects_per_slab + 63) / 64;
}

/* The most arena->work one slab_alloc or slab_free of `cache` adds (see slab.c). */
#define SLAB_ALLOC_WORK_BOUND(cache) (1u + slab_bitmap_words(cache))
#define SLAB_FREE_WORK_BOUND 2u

/*
 * An arena over `region` of the kernel context `kernel`, whose caches are numbered 0, 1, ... in
 * the trace. VM_OK, or VM_ERR_INVALID (not a kernel context, no such region).
 */
enum vm_status slab_arena_init(struct slab_arena *arena, struct vmm_context *kernel,
			       unsigned region);
/*
 * Sets up an empty cache of `object_size` bytes (SLAB_MIN_OBJECT..SLAB_MAX_OBJECT) whose slabs go
 * into `arena`. VM_OK or VM_ERR_INVALID. Allocates nothing yet. The cache must not move while
 * it lives (its slab lists are intrusive).
 */
enum vm_status slab_cache_init(struct slab_cache *cache, const char *name, size_t object_size,
			       struct slab_arena *arena);
/* An object (contents unspecified), or NULL when no slab page can be had. */
void *slab_alloc(struct slab_cache *cache);
/*
 * Frees an object. VM_ERR_FOREIGN_POINTER when ptr is not an object of this cache (outside its
 * slabs, or not at an object boundary), VM_ERR_DOUBLE_FREE when it is already free; both are
 * logged and change nothing. An empty slab goes back to the VMM and the page source at once.
 */
enum vm_status slab_free(struct slab_cache *cache, void *ptr);
/* True when ptr lies in one of this cache's slabs. */
bool slab_owns(const struct slab_cache *cache, const void *ptr);
/*
 * True when ptr lies in the arena's region (whether or not an object is there).
 */
bool slab_arena_contains(const struct slab_arena *arena, const void *ptr);
/*
 * The cache whose live slab holds ptr (any cache of `arena`), or NULL. Reads the slab header
 * after checking that the page is mapped and carries the slab magic.
 */
struct slab_cache *slab_cache_of(struct slab_arena *arena, const void *ptr);
/* Returns every slab; objects still allocated are logged as leaks. Returns their number. */
uint64_t slab_cache_destroy(struct slab_cache *cache);
/* Where the object at slab address ptr can be touched from this build (direct-map alias). */
void *slab_host_view(const struct slab_cache *cache, const void *ptr);

#endif
