/*
 * The pmm's self-check: pmm_check recounts everything the allocator keeps incrementally and
 * verifies, one by one, the invariants listed at the top of pmm.c; each part checks its own
 * structure (pmm_classes_check, pmm_fit_check through it, pmm_used_map_check). It only reads the
 * allocator's state; it is O(records + buckets) and meant for tests and debug builds, never for a
 * hot path.
 */
#include "pmm_internal.h"
#include "../lib/format.h"

#define CHECK(cond, ...)                                                                     \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			ksnprintf(pmm->check_message, sizeof(pmm->check_message), __VA_ARGS__); \
			return pmm->check_message;                                           \
		}                                                                            \
	} while (0)

struct zone_recount {
	uint64_t total_pages, free_pages, free_extents, metadata_pages;
	uint64_t free_extents_by_order[PMM_ORDER_COUNT];
};

/* True when `a` ends where `b` begins, both free, in the same zone: they must be one record. */
static bool can_merge(const struct pmm *pmm, const struct pmm_region *a, const struct pmm_region *b)
{
	return a && b && region_is_free(a) && region_is_free(b) && region_end(a) == b->first_page &&
	       zone_of_page(pmm, a->first_page) == zone_of_page(pmm, b->first_page);
}

/* Invariants 1, 2, 3 record by record; fills the recount for invariant 6. */
static const char *check_list(struct pmm *pmm, struct zone_recount recount[PMM_ZONE_COUNT],
			      uint64_t *records, uint64_t *used_records)
{
	const struct pmm_region *prev = NULL;
	for (const struct pmm_region *r = pmm_first_record(pmm); r;
	     prev = r, r = pmm_next_record(pmm, r)) {
		unsigned long long page = r->first_page;
		CHECK(r->address_link.prev == (prev ? &prev->address_link : &pmm->records),
		      "record at page %#llx: prev link broken", page);
		CHECK(r->pages > 0, "record at page %#llx is empty", page);
		CHECK(!prev || region_end(prev) <= r->first_page,
		      "record at page %#llx overlaps or precedes its predecessor", page);
		enum pmm_zone zone = zone_of_page(pmm, r->first_page);
		CHECK(r->zone == zone, "record at page %#llx says zone %u, lies in %s", page, r->zone,
		      pmm_zone_name(zone));
		CHECK(zone_of_page(pmm, region_end(r) - 1) == zone,
		      "record at page %#llx (%llu pages) crosses a zone boundary", page,
		      (unsigned long long)r->pages);
		CHECK(!can_merge(pmm, prev, r), "free records at %#llx and before are not coalesced",
		      page);
		(*records)++;
		recount[zone].total_pages += r->pages;
		if (region_is_free(r)) {
			CHECK(r->owner == MM_OWNER_NONE, "free record at page %#llx has an owner", page);
			recount[zone].free_pages += r->pages;
			recount[zone].free_extents++;
			recount[zone].free_extents_by_order[ilog2_u64(r->pages)]++;
			continue;
		}
		CHECK(r->state == PMM_REGION_USED, "record at page %#llx: bad state %u", page,
		      r->state);
		CHECK(r->owner < MM_OWNER_COUNT, "record at page %#llx: bad owner %u", page, r->owner);
		CHECK(!(r->flags & ~PMM_REGION_FLAG_METADATA),
		      "used record at page %#llx has flags of a free one", page);
		uint64_t visited = 0;
		CHECK(*pmm_used_map_find(&pmm->used, r->first_page, &visited) == r,
		      "used record at page %#llx not found in the used-record map", page);
		(*used_records)++;
		if (r->flags & PMM_REGION_FLAG_METADATA)
			recount[zone].metadata_pages += r->pages;
	}
	CHECK(pmm->records.prev == (prev ? &prev->address_link : &pmm->records),
	      "list tail pointer is stale");
	return NULL;
}

static const char *check_zone_counters(struct pmm *pmm, unsigned z, const struct zone_recount *c)
{
	const struct pmm_zone_index *zone = &pmm->zone[z];
	uint64_t by_order[PMM_ORDER_COUNT] = { 0 };
	uint64_t extents = pmm_classes_count_by_order(&zone->classes, by_order);
	CHECK(zone->total_pages == c->total_pages, "zone %s: total %llu, recount %llu",
	      pmm_zone_name(z), (unsigned long long)zone->total_pages,
	      (unsigned long long)c->total_pages);
	CHECK(zone->free_pages == c->free_pages, "zone %s: free pages %llu, recount %llu",
	      pmm_zone_name(z), (unsigned long long)zone->free_pages,
	      (unsigned long long)c->free_pages);
	CHECK(extents == c->free_extents, "zone %s: free extents %llu by class count, recount %llu",
	      pmm_zone_name(z), (unsigned long long)extents, (unsigned long long)c->free_extents);
	CHECK(zone->metadata_pages == c->metadata_pages, "zone %s: metadata %llu, recount %llu",
	      pmm_zone_name(z), (unsigned long long)zone->metadata_pages,
	      (unsigned long long)c->metadata_pages);
	for (unsigned o = 0; o < PMM_ORDER_COUNT; o++)
		CHECK(by_order[o] == c->free_extents_by_order[o],
		      "zone %s: order %u count %llu, recount %llu", pmm_zone_name(z), o,
		      (unsigned long long)by_order[o], (unsigned long long)c->free_extents_by_order[o]);
	return NULL;
}

struct zone_member {
	const struct pmm *pmm;
	unsigned zone;
};

/* What the size-class index cannot know: its records are free and of its zone. */
static bool free_in_zone(void *ctx, const struct pmm_region *region)
{
	const struct zone_member *m = ctx;
	return region_is_free(region) && zone_of_page(m->pmm, region->first_page) == m->zone;
}

/* Invariant 4: the zone's index holds exactly its free records, each where it belongs. */
static const char *check_zone_index(struct pmm *pmm, unsigned z)
{
	struct zone_member member = { pmm, z };
	const struct pmm_region *where;
	uint64_t indexed;
	const char *problem =
		pmm_classes_check(&pmm->zone[z].classes, free_in_zone, &member, &where, &indexed);
	CHECK(!problem, "zone %s: %s (record at page %#llx)", pmm_zone_name(z), problem,
	      where ? (unsigned long long)where->first_page : 0ull);
	(void)indexed; /* each class's count was checked against its list */
	return NULL;
}

/* Invariant 5 and the record pool of invariant 6. */
static const char *check_pools(struct pmm *pmm, uint64_t records, uint64_t used_records)
{
	uint64_t mapped = 0, spares = 0;
	const struct pmm_region *where;
	CHECK(pmm_used_map_check(&pmm->used, &where, &mapped),
	      "used-record map: %s (page %#llx)",
	      where ? "a record in the wrong bucket, or not used" : "wrong record count",
	      where ? (unsigned long long)where->first_page : 0ull);
	CHECK(mapped == used_records, "used-record map holds %llu records, list has %llu used",
	      (unsigned long long)mapped, (unsigned long long)used_records);
	CHECK(pmm->records_owned - pmm->spare_record_count == records,
	      "records owned %llu - spare %llu, list has %llu", (unsigned long long)pmm->records_owned,
	      (unsigned long long)pmm->spare_record_count, (unsigned long long)records);
	for (const struct pmm_region *r = pmm->spare_records; r; r = r->link.spare_next)
		spares++;
	CHECK(spares == pmm->spare_record_count, "spare pool holds %llu, counter %llu",
	      (unsigned long long)spares, (unsigned long long)pmm->spare_record_count);
	return NULL;
}

const char *pmm_check(struct pmm *pmm)
{
	struct zone_recount recount[PMM_ZONE_COUNT];
	uint64_t records = 0, used_records = 0;
	const char *problem;
	memset(recount, 0, sizeof(recount));

	if ((problem = check_list(pmm, recount, &records, &used_records)))
		return problem;
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++) {
		if ((problem = check_zone_counters(pmm, z, &recount[z])) ||
		    (problem = check_zone_index(pmm, z)))
			return problem;
	}
	return check_pools(pmm, records, used_records);
}
