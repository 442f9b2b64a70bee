/*
 * The regions placement's self-check: pmm_regions_check recounts everything the instance keeps
 * incrementally and verifies, one by one, the invariants listed at the top of pmm_regions.c; the
 * size classes check their own structure (pmm_classes_check, pmm_fit_check through it). It only
 * reads the state; it is O(records + span pages) and meant for tests and debug builds (the
 * common layer's page_allocator_check calls it), never for a hot path.
 */
#include "page_allocator.h"
#include "pmm_regions.h"
#include "../lib/format.h"

#define CHECK(cond, ...)                                                                     \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			ksnprintf(r->check_message, sizeof(r->check_message), __VA_ARGS__);  \
			return r->check_message;                                             \
		}                                                                            \
	} while (0)

struct recount {
	uint64_t records, used_records, free_pages, free_extents;
};

/* Invariants 1, 2 and 4 (one way) record by record; fills the recount for invariant 5. */
static const char *check_list(struct pmm_regions *r, struct recount *c)
{
	const struct pmm_region *prev = NULL;
	for (const struct pmm_region *region = pmm_regions_first(r); region;
	     prev = region, region = pmm_regions_next(r, region)) {
		unsigned long long page = region->first_page;
		CHECK(region->address_link.prev == (prev ? &prev->address_link : &r->edge.address_link),
		      "record at page %#llx: prev link broken", page);
		CHECK(region->pages > 0, "record at page %#llx is empty", page);
		CHECK(region->first_page >= r->first_page &&
			      region_end(region) <= r->first_page + r->span_pages,
		      "record at page %#llx (%llu pages) lies outside the span", page,
		      (unsigned long long)region->pages);
		CHECK(!prev || region_end(prev) <= region->first_page,
		      "record at page %#llx overlaps or precedes its predecessor", page);
		CHECK(!prev || !region_is_free(prev) || !region_is_free(region) ||
			      region_end(prev) != region->first_page,
		      "free records at %#llx and before are not coalesced", page);
		c->records++;
		if (region_is_free(region)) {
			c->free_pages += region->pages;
			c->free_extents++;
			continue;
		}
		CHECK(region->state == PMM_REGION_USED, "record at page %#llx: bad state %u", page,
		      region->state);
		CHECK(region->flags == 0, "used record at page %#llx has flags of a free one", page);
		CHECK(r->used_at[region->first_page - r->first_page] == region,
		      "used record at page %#llx is not in used_at", page);
		c->used_records++;
	}
	CHECK(r->edge.address_link.prev == (prev ? &prev->address_link : &r->edge.address_link),
	      "list tail pointer is stale");
	CHECK(r->edge.state == PMM_REGION_USED && r->edge.pages == 0,
	      "the list's sentinel is not an empty used record");
	return NULL;
}

static bool is_free_record(void *ctx, const struct pmm_region *region)
{
	(void)ctx;
	return region_is_free(region);
}

const char *pmm_regions_check(void *state)
{
	struct pmm_regions *r = state;
	struct recount c = { 0 };
	const char *problem = check_list(r, &c);
	if (problem)
		return problem;
	const struct pmm_region *where;
	uint64_t indexed, mapped = 0, spares = 0;
	problem = pmm_classes_check(&r->classes, is_free_record, NULL, &where, &indexed);
	CHECK(!problem, "%s (record at page %#llx)", problem,
	      where ? (unsigned long long)where->first_page : 0ull);
	CHECK(indexed == c.free_extents, "the size classes hold %llu records, the list %llu free",
	      (unsigned long long)indexed, (unsigned long long)c.free_extents);
	CHECK(r->free_pages == c.free_pages, "free pages %llu, recount %llu",
	      (unsigned long long)r->free_pages, (unsigned long long)c.free_pages);
	for (uint64_t i = 0; i < r->span_pages; i++)
		mapped += r->used_at[i] != NULL;
	CHECK(mapped == c.used_records, "used_at holds %llu records, the list has %llu used",
	      (unsigned long long)mapped, (unsigned long long)c.used_records);
	CHECK(r->records_owned - r->spare_record_count == c.records,
	      "records owned %llu - spare %llu, list has %llu", (unsigned long long)r->records_owned,
	      (unsigned long long)r->spare_record_count, (unsigned long long)c.records);
	for (const struct pmm_region *s = r->spare_records; s; s = s->link.spare_next)
		spares++;
	CHECK(spares == r->spare_record_count, "spare pool holds %llu, counter %llu",
	      (unsigned long long)spares, (unsigned long long)r->spare_record_count);
	return NULL;
}

uint64_t pmm_regions_work(const struct page_allocator *a)
{
	uint64_t work = 0;
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++)
		if (a->zone[z].state)
			work += ((const struct pmm_regions *)a->zone[z].state)->work;
	return work;
}
