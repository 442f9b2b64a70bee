/*
 * The used-record map's cold paths: setting up, rehashing into a larger table, checking.
 * The hot paths (insert, find, unlink) and the bounds are in pmm_used_map.h.
 */
#include "pmm_used_map.h"

static void use_buckets(struct pmm_used_map *map, struct pmm_region **buckets, uint64_t count)
{
	map->buckets = buckets;
	map->bucket_count = count;
	map->hash_shift = 64 - ilog2_u64(count);
}

void pmm_used_map_init(struct pmm_used_map *map)
{
	memset(map->embedded, 0, sizeof(map->embedded));
	use_buckets(map, map->embedded, PMM_USED_MAP_EMBEDDED_BUCKETS);
}

void pmm_used_map_rehash(struct pmm_used_map *map, struct pmm_region **buckets, uint64_t new_count,
			 uint64_t *work)
{
	struct pmm_region **old = map->buckets;
	uint64_t old_count = map->bucket_count;
	use_buckets(map, buckets, new_count);
	for (uint64_t b = 0; b < old_count; b++) {
		struct pmm_region *region = old[b];
		while (region) {
			struct pmm_region *next = pmm_visit(work, region)->link.map_next;
			pmm_used_map_insert(map, region);
			region = next;
		}
	}
}

bool pmm_used_map_check(const struct pmm_used_map *map, const struct pmm_region **where,
			uint64_t *records)
{
	*records = 0;
	for (uint64_t b = 0; b < map->bucket_count; b++) {
		for (const struct pmm_region *r = map->buckets[b]; r; r = r->link.map_next) {
			if (r->state != PMM_REGION_USED ||
			    pmm_used_map_bucket(map, r->first_page) != &map->buckets[b]) {
				*where = r;
				return false;
			}
			++*records;
		}
	}
	*where = NULL;
	return true;
}
