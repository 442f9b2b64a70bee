/*
 * The pmm's used-record map: first page number -> the used record starting there, so that
 * pmm_free finds what it frees without a search. A chained hash table (Fibonacci hashing: the top
 * bits of page * 2^64/φ, which spreads strided page numbers) whose buckets the pmm provides: a
 * small embedded table to start with, then pages of its own when the map asks to grow.
 *
 * Why a hash and not an array indexed by page number (Linux's mem_map): the pmm manages up to
 * 2^40 page numbers in sparse ranges, and its bookkeeping grows with its records, not with the
 * memory it manages; a page-indexed map would cost 8 bytes per managed page (a radix tree of
 * them, a page of map per used record in the sparse layouts the tests build).
 *
 * Bounds: insert and unlink visit nothing; find visits the chain of its bucket. The map counts
 * nothing on the way: the pmm grows it against its records in use, free or used (an upper bound
 * on the used ones it reads from its record pool), so the load (used records / buckets) stays at
 * most 2 and a chain is short ON AVERAGE; no worst case is promised for adversarial page numbers.
 * Growing rehashes every record once (O(records), once per doubling of the records in use).
 * The functions here run on every alloc and free, so they are inline.
 */
#ifndef PAGESCOPE_MM_PMM_USED_MAP_H
#define PAGESCOPE_MM_PMM_USED_MAP_H

#include "pmm_region.h"

#define PMM_USED_MAP_EMBEDDED_BUCKETS 64
/* The map asks to grow when it could hold more than this many records per bucket. */
#define PMM_USED_MAP_MAX_LOAD 2

struct pmm_used_map {
	struct pmm_region **buckets;
	uint64_t bucket_count; /* a power of two */
	unsigned hash_shift;   /* 64 - log2(bucket_count) */
	struct pmm_region *embedded[PMM_USED_MAP_EMBEDDED_BUCKETS];
};

static inline struct pmm_region **pmm_used_map_bucket(const struct pmm_used_map *map,
						      uint64_t first_page)
{
	return &map->buckets[(first_page * 0x9E3779B97F4A7C15ull) >> map->hash_shift];
}

/* Adds a used record (none with its first page may be in the map). */
static inline void pmm_used_map_insert(struct pmm_used_map *map, struct pmm_region *region)
{
	struct pmm_region **bucket = pmm_used_map_bucket(map, region->first_page);
	region->link.map_next = *bucket;
	*bucket = region;
}

/*
 * The link that holds the record starting at `first_page`: *link is that record, or NULL when the
 * map has none (then the link is the end of the chain). Adds the entries it reads to *work.
 */
static inline struct pmm_region **pmm_used_map_find(const struct pmm_used_map *map,
						    uint64_t first_page, uint64_t *work)
{
	struct pmm_region **link = pmm_used_map_bucket(map, first_page);
	while (*link && pmm_visit(work, *link)->first_page != first_page)
		link = &(*link)->link.map_next;
	return link;
}

/* Removes the record at *link, a link pmm_used_map_find returned (nothing moved in between). */
static inline void pmm_used_map_unlink(struct pmm_region **link)
{
	*link = (*link)->link.map_next;
}

/* Whether the map should grow to hold up to `capacity` records at the load it promises. */
static inline bool pmm_used_map_wants_growth(const struct pmm_used_map *map, uint64_t capacity)
{
	return capacity > PMM_USED_MAP_MAX_LOAD * map->bucket_count;
}

/* An empty map on its embedded buckets. */
void pmm_used_map_init(struct pmm_used_map *map);
/*
 * Moves every record into `buckets` (new_count of them, a power of two, zeroed by the caller) and
 * makes it the table. Adds the records it moves to *work. The old buckets are the caller's again.
 */
void pmm_used_map_rehash(struct pmm_used_map *map, struct pmm_region **buckets, uint64_t new_count,
			 uint64_t *work);
/*
 * Self-check: every chained record is used and in the bucket of its first page. Returns true, or
 * false with the offending record at *where; *records receives how many are chained.
 */
bool pmm_used_map_check(const struct pmm_used_map *map, const struct pmm_region **where,
			uint64_t *records);

#endif
