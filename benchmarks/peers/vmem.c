/*
 * vmem-design range allocator (the interface and its purpose: vmem.h). The facts it follows, from
 * Bonwick & Adams, USENIX 2001, section 4:
 *   - every segment of the span, free or allocated, is on one list in address order (the
 *     boundary tags), so a freed segment finds its neighbours in O(1);
 *   - each free segment is also on the power-of-two free list of its length (list k: lengths in
 *     [2^k, 2^(k+1))), and a bitmap says which lists are non-empty;
 *   - instant fit: a request of n pages takes the first segment of the first non-empty list whose
 *     every member holds n (list ceil(log2 n) or above: one find-first-set), carving it at its
 *     start; only when none is non-empty is list floor(log2 n) searched segment by segment;
 *   - a constrained request (here: an alignment) searches the free lists from floor(log2 n)
 *     upwards, segment by segment, and takes the first that holds an aligned fit;
 *   - allocated segments are found by address through a hash table (chained), which grows as the
 *     segments do so that its chains stay short (the paper rescales it; here it doubles when the
 *     allocated segments reach twice the buckets);
 *   - a free puts the segment back, merging it with a free neighbour on either side.
 * Left out, because the benchmark does not exercise them: quantum caches (the paper's front end
 * for small sizes), imported spans (one span here, so no span markers), best fit and next fit.
 *
 * Invariants (vmem_peer_check recounts them): the segments tile the span in address order; no
 * two free segments are adjacent; a free segment is on the list of its class and only there, and
 * the bitmap's bit k is set exactly when list k is not empty; every allocated segment is in the
 * hash under its start address.
 *
 * Cost: reserve is one find-first-set plus the carve (at most two segments made, one list
 * removal and up to two insertions) and one hash insertion; release one hash chain walk and at
 * most two merges. The only searches are the fallback list and the aligned path.
 */
#include "vmem.h"

#include <stdlib.h>

#include "kernel/lib/compiler.h"

#define VMEM_PAGE_SIZE 4096u
#define CHUNK_SEGMENTS 126 /* segments per malloc'd chunk (its header included, 8 KiB) */
#define INITIAL_BUCKETS 16

struct vmem_segment {
	uint64_t start, pages;
	struct vmem_segment *addr_prev, *addr_next; /* boundary tags: all segments, address order */
	struct vmem_segment *link_prev, *link_next; /* free: its free list; allocated: hash chain */
	bool allocated;
};

struct vmem_chunk {
	struct vmem_chunk *next;
	struct vmem_segment segments[CHUNK_SEGMENTS];
};

static uint64_t end_of(const struct vmem_segment *s)
{
	return s->start + s->pages * VMEM_PAGE_SIZE;
}

/* --- segment records -------------------------------------------------------------------------- */

static struct vmem_segment *segment_new(struct vmem_peer *v)
{
	if (!v->spare_segments) {
		struct vmem_chunk *chunk = malloc(sizeof(*chunk));
		if (!chunk)
			return NULL;
		chunk->next = v->chunks;
		v->chunks = chunk;
		for (unsigned i = 0; i < CHUNK_SEGMENTS; i++) {
			chunk->segments[i].link_next = v->spare_segments;
			v->spare_segments = &chunk->segments[i];
		}
	}
	struct vmem_segment *s = v->spare_segments;
	v->spare_segments = s->link_next;
	v->segments_in_use++;
	return s;
}

static void segment_put(struct vmem_peer *v, struct vmem_segment *s)
{
	s->link_next = v->spare_segments;
	v->spare_segments = s;
	v->segments_in_use--;
}

/* --- power-of-two free lists ------------------------------------------------------------------ */

static unsigned class_of(uint64_t pages)
{
	return ilog2_u64(pages);
}

static void free_list_insert(struct vmem_peer *v, struct vmem_segment *s)
{
	unsigned k = class_of(s->pages);
	s->allocated = false;
	s->link_prev = NULL;
	s->link_next = v->free_lists[k];
	if (s->link_next)
		s->link_next->link_prev = s;
	v->free_lists[k] = s;
	v->free_map |= (uint64_t)1 << k;
}

static void free_list_remove(struct vmem_peer *v, struct vmem_segment *s)
{
	unsigned k = class_of(s->pages);
	if (s->link_prev)
		s->link_prev->link_next = s->link_next;
	else
		v->free_lists[k] = s->link_next;
	if (s->link_next)
		s->link_next->link_prev = s->link_prev;
	if (!v->free_lists[k])
		v->free_map &= ~((uint64_t)1 << k);
}

/* --- the allocation hash ---------------------------------------------------------------------- */

static struct vmem_segment **bucket_of(struct vmem_segment **table, uint64_t mask, uint64_t addr)
{
	uint64_t h = (addr / VMEM_PAGE_SIZE) * 0x9E3779B97F4A7C15ull;
	return &table[(h >> 32) & mask];
}

/* Doubles the table until it has at least half as many buckets as allocated segments. */
static void hash_grow(struct vmem_peer *v)
{
	uint64_t buckets = (v->hash_mask + 1) * 2;
	while (buckets * 2 < v->allocated)
		buckets *= 2;
	struct vmem_segment **table = calloc(buckets, sizeof(*table));
	if (!table)
		return; /* longer chains, still correct */
	for (uint64_t b = 0; b <= v->hash_mask; b++) {
		struct vmem_segment *s = v->hash[b], *next;
		for (; s; s = next) {
			next = s->link_next;
			struct vmem_segment **head = bucket_of(table, buckets - 1, s->start);
			s->link_next = *head;
			*head = s;
		}
	}
	free(v->hash);
	v->hash = table;
	v->hash_mask = buckets - 1;
}

static void hash_insert(struct vmem_peer *v, struct vmem_segment *s)
{
	struct vmem_segment **head = bucket_of(v->hash, v->hash_mask, s->start);
	s->allocated = true;
	s->link_next = *head;
	*head = s;
	if (++v->allocated > 2 * (v->hash_mask + 1))
		hash_grow(v);
}

static struct vmem_segment *hash_remove(struct vmem_peer *v, uint64_t addr)
{
	struct vmem_segment **link = bucket_of(v->hash, v->hash_mask, addr);
	while (*link && (*link)->start != addr)
		link = &(*link)->link_next;
	struct vmem_segment *s = *link;
	if (s) {
		*link = s->link_next;
		v->allocated--;
	}
	return s;
}

/* --- address list ----------------------------------------------------------------------------- */

static void link_after(struct vmem_peer *v, struct vmem_segment *prev, struct vmem_segment *s)
{
	s->addr_prev = prev;
	s->addr_next = prev ? prev->addr_next : v->first;
	if (s->addr_next)
		s->addr_next->addr_prev = s;
	if (prev)
		prev->addr_next = s;
	else
		v->first = s;
}

static void unlink_segment(struct vmem_peer *v, struct vmem_segment *s)
{
	if (s->addr_prev)
		s->addr_prev->addr_next = s->addr_next;
	else
		v->first = s->addr_next;
	if (s->addr_next)
		s->addr_next->addr_prev = s->addr_prev;
}

/* --- the interface ---------------------------------------------------------------------------- */

bool vmem_peer_init(struct vmem_peer *v, uint64_t base, uint64_t pages)
{
	*v = (struct vmem_peer){ .base = base, .pages = pages, .hash_mask = INITIAL_BUCKETS - 1 };
	v->hash = calloc(INITIAL_BUCKETS, sizeof(*v->hash));
	struct vmem_segment *s = v->hash ? segment_new(v) : NULL;
	if (!s) {
		vmem_peer_destroy(v);
		return false;
	}
	*s = (struct vmem_segment){ .start = base, .pages = pages };
	link_after(v, NULL, s);
	free_list_insert(v, s);
	return true;
}

void vmem_peer_destroy(struct vmem_peer *v)
{
	while (v->chunks) {
		struct vmem_chunk *next = v->chunks->next;
		free(v->chunks);
		v->chunks = next;
	}
	free(v->hash);
	*v = (struct vmem_peer){ 0 };
}

/* The first segment, in free-list order from list `from` up, holding pages at align; or NULL. */
static struct vmem_segment *search_lists(struct vmem_peer *v, unsigned from, uint64_t pages,
					 uint64_t align_bytes, uint64_t *addr)
{
	for (uint64_t map = v->free_map & ~(((uint64_t)1 << from) - 1); map; map &= map - 1)
		for (struct vmem_segment *s = v->free_lists[__builtin_ctzll(map)]; s; s = s->link_next) {
			uint64_t a = ALIGN_UP(s->start, align_bytes);
			if (a >= s->start && a + pages * VMEM_PAGE_SIZE <= end_of(s)) {
				*addr = a;
				return s;
			}
		}
	return NULL;
}

uint64_t vmem_peer_reserve(struct vmem_peer *v, uint64_t pages, uint64_t align_pages)
{
	if (pages == 0 || pages > v->pages || !IS_POW2(align_pages))
		return VMEM_PEER_FAILED;
	struct vmem_segment *s = NULL;
	uint64_t addr = 0;
	if (align_pages == 1) {
		unsigned k = class_of(pages) + !IS_POW2(pages); /* every member of list k holds pages */
		uint64_t fitting = k < VMEM_PEER_CLASSES ? v->free_map & ~(((uint64_t)1 << k) - 1) : 0;
		if (fitting) {
			s = v->free_lists[__builtin_ctzll(fitting)];
			addr = s->start;
		}
	}
	if (!s)
		s = search_lists(v, class_of(pages), pages, align_pages * VMEM_PAGE_SIZE, &addr);
	if (!s)
		return VMEM_PEER_FAILED;
	/* Both records first, so that running out of memory changes nothing. */
	uint64_t end = addr + pages * VMEM_PAGE_SIZE, s_end = end_of(s);
	struct vmem_segment *before = addr > s->start ? segment_new(v) : NULL;
	struct vmem_segment *after = end < s_end ? segment_new(v) : NULL;
	if ((addr > s->start && !before) || (end < s_end && !after)) {
		if (before)
			segment_put(v, before);
		if (after)
			segment_put(v, after);
		return VMEM_PEER_FAILED;
	}
	free_list_remove(v, s);
	if (before) {
		*before = (struct vmem_segment){ .start = s->start, .pages = (addr - s->start) / VMEM_PAGE_SIZE };
		link_after(v, s->addr_prev, before);
		free_list_insert(v, before);
	}
	if (after) {
		*after = (struct vmem_segment){ .start = end, .pages = (s_end - end) / VMEM_PAGE_SIZE };
		link_after(v, s, after);
		free_list_insert(v, after);
	}
	s->start = addr;
	s->pages = pages;
	hash_insert(v, s);
	return addr;
}

bool vmem_peer_release(struct vmem_peer *v, uint64_t addr)
{
	struct vmem_segment *s = hash_remove(v, addr);
	if (!s)
		return false;
	struct vmem_segment *next = s->addr_next, *prev = s->addr_prev;
	if (next && !next->allocated) {
		free_list_remove(v, next);
		s->pages += next->pages;
		unlink_segment(v, next);
		segment_put(v, next);
	}
	if (prev && !prev->allocated) {
		free_list_remove(v, prev);
		prev->pages += s->pages;
		unlink_segment(v, s);
		segment_put(v, s);
		s = prev;
	}
	free_list_insert(v, s);
	return true;
}

void vmem_peer_for_each_free(const struct vmem_peer *v,
			     void (*visit)(void *cookie, uint64_t addr, uint64_t pages), void *cookie)
{
	for (const struct vmem_segment *s = v->first; s; s = s->addr_next)
		if (!s->allocated)
			visit(cookie, s->start, s->pages);
}

uint64_t vmem_peer_bookkeeping_bytes(const struct vmem_peer *v)
{
	uint64_t chunks = 0;
	for (const struct vmem_chunk *c = v->chunks; c; c = c->next)
		chunks++;
	return chunks * sizeof(struct vmem_chunk) + (v->hash_mask + 1) * sizeof(*v->hash);
}

unsigned vmem_peer_check(const struct vmem_peer *v)
{
	unsigned bad = 0;
	uint64_t expect = v->base, segments = 0, allocated = 0, listed = 0;
	const struct vmem_segment *prev = NULL;
	for (const struct vmem_segment *s = v->first; s; prev = s, s = s->addr_next) {
		segments++;
		bad += s->start != expect || s->pages == 0 || s->addr_prev != prev;
		bad += prev && !prev->allocated && !s->allocated; /* a missed merge */
		expect = end_of(s);
		if (s->allocated) {
			allocated++;
			const struct vmem_segment *h = *bucket_of(v->hash, v->hash_mask, s->start);
			while (h && h != s)
				h = h->link_next;
			bad += h != s;
		}
	}
	bad += expect != v->base + v->pages * VMEM_PAGE_SIZE;
	for (unsigned k = 0; k < VMEM_PEER_CLASSES; k++) {
		bad += !!(v->free_map >> k & 1) != (v->free_lists[k] != NULL);
		for (const struct vmem_segment *s = v->free_lists[k]; s; s = s->link_next) {
			listed++;
			bad += s->allocated || class_of(s->pages) != k;
		}
	}
	bad += listed != segments - allocated || allocated != v->allocated ||
	       segments != v->segments_in_use;
	return bad;
}
