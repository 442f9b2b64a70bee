/*
 * The pmm's self-check: pmm_check recounts everything the allocator (pmm.c) and its fit tree
 * (pmm_fit_tree.c) keep incrementally and verifies, one by one, the invariants listed at the top
 * of pmm.c. It only reads the allocator's state; it is O(records + buckets) and meant for tests
 * and debug builds, never for a hot path.
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

/* Invariants 1, 2, 3 and 5 record by record; fills the recount for invariant 6. */
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
		CHECK(zone_of_page(pmm, region_end(r) - 1) == zone,
		      "record at page %#llx (%llu pages) crosses a zone boundary", page,
		      (unsigned long long)r->pages);
		CHECK(!can_merge(pmm, prev, r), "free records at %#llx and before are not coalesced",
		      page);
		(*records)++;
		recount[zone].total_pages += r->pages;
		if (region_is_free(r)) {
			CHECK(r->owner == MM_OWNER_NONE && r->flags == 0,
			      "free record at page %#llx has an owner or flags", page);
			recount[zone].free_pages += r->pages;
			recount[zone].free_extents++;
			recount[zone].free_extents_by_order[ilog2_u64(r->pages)]++;
			continue;
		}
		CHECK(r->state == PMM_REGION_USED, "record at page %#llx: bad state %u", page,
		      r->state);
		CHECK(r->owner < MM_OWNER_COUNT, "record at page %#llx: bad owner %u", page, r->owner);
		uint64_t visited = 0;
		CHECK(hash_find(pmm, r->first_page, &visited) == r,
		      "used record at page %#llx not found in the hash table", page);
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
	CHECK(zone->total_pages == c->total_pages, "zone %s: total %llu, recount %llu",
	      pmm_zone_name(z), (unsigned long long)zone->total_pages,
	      (unsigned long long)c->total_pages);
	CHECK(zone->free_pages == c->free_pages, "zone %s: free pages %llu, recount %llu",
	      pmm_zone_name(z), (unsigned long long)zone->free_pages,
	      (unsigned long long)c->free_pages);
	CHECK(zone->free_extents == c->free_extents, "zone %s: free extents %llu, recount %llu",
	      pmm_zone_name(z), (unsigned long long)zone->free_extents,
	      (unsigned long long)c->free_extents);
	CHECK(zone->metadata_pages == c->metadata_pages, "zone %s: metadata %llu, recount %llu",
	      pmm_zone_name(z), (unsigned long long)zone->metadata_pages,
	      (unsigned long long)c->metadata_pages);
	for (unsigned o = 0; o < PMM_ORDER_COUNT; o++)
		CHECK(zone->free_extents_by_order[o] == c->free_extents_by_order[o],
		      "zone %s: order %u count %llu, recount %llu", pmm_zone_name(z), o,
		      (unsigned long long)zone->free_extents_by_order[o],
		      (unsigned long long)c->free_extents_by_order[o]);
	return NULL;
}

/*
 * Invariant 4 for one class's tree: each node a free record of this zone and class, in key
 * order, its maxima and height recomputed from its children, AVL-balanced. Recursion depth is
 * the tree height; a cycle is caught by the depth limit.
 */
static const char *check_class_subtree(struct pmm *pmm, unsigned z, struct size_class class_,
				       const struct pmm_region *node, const struct pmm_region *low,
				       const struct pmm_region *high, unsigned depth,
				       uint64_t *nodes)
{
	if (!node)
		return NULL;
	CHECK(depth < 2 * PMM_PEAK_ORDER_UNBOUNDED, "zone %s: a fit tree deeper than any AVL tree",
	      pmm_zone_name(z));
	unsigned long long page = node->first_page;
	const struct avl_node *fit = &node->link.free.fit;
	struct size_class c = size_class_of(node->pages);
	CHECK(region_is_free(node) && zone_of_page(pmm, node->first_page) == z &&
		      c.row == class_.row && c.sub == class_.sub,
	      "zone %s: record at page %#llx misfiled in class (%u,%u)", pmm_zone_name(z), page,
	      class_.row, class_.sub);
	uint64_t arm = pmm_fit_shape_of(node->first_page, node->pages).right_arm;
	CHECK(!low || pmm_fit_key_less(pmm_fit_shape_of(low->first_page, low->pages).right_arm,
				       low->first_page, arm, node->first_page),
	      "zone %s: fit tree out of order at page %#llx", pmm_zone_name(z), page);
	CHECK(!high || pmm_fit_key_less(arm, node->first_page,
					pmm_fit_shape_of(high->first_page, high->pages).right_arm,
					high->first_page),
	      "zone %s: fit tree out of order at page %#llx", pmm_zone_name(z), page);
	struct pmm_fit_maxima expected = pmm_fit_summary(node), kept = pmm_fit_maxima(node);
	const struct avl_node *left = fit->left, *right = fit->right;
	CHECK((!left || left->parent == fit) && (!right || right->parent == fit),
	      "zone %s: fit tree node at page %#llx is not its children's parent", pmm_zone_name(z),
	      page);
	CHECK(expected.max_pages == kept.max_pages &&
		      fit->height == 1 + MAX(avl_height(left), avl_height(right)) &&
		      expected.max_peak_order == kept.max_peak_order &&
		      expected.max_block_order == kept.max_block_order,
	      "zone %s: fit tree node at page %#llx has stale maxima or height", pmm_zone_name(z),
	      page);
	int balance = (int)avl_height(left) - (int)avl_height(right);
	CHECK(balance >= -1 && balance <= 1, "zone %s: fit tree unbalanced at page %#llx",
	      pmm_zone_name(z), page);
	(*nodes)++;
	const char *problem =
		check_class_subtree(pmm, z, class_, pmm_fit_region(left), low, node, depth + 1, nodes);
	return problem ? problem
		       : check_class_subtree(pmm, z, class_, pmm_fit_region(right), node, high, depth + 1,
					     nodes);
}

/* Invariant 4 for an exact class: its residue lists; returns how many hold a 2^5-aligned page. */
static const char *check_exact_lists(struct pmm *pmm, unsigned z, uint64_t size,
				     uint64_t *listed, uint64_t *treed)
{
	const struct pmm_zone_index *zone = &pmm->zone[z];
	for (unsigned residue = 0; residue < PMM_EXACT_RESIDUES; residue++) {
		const struct list_node *list = &zone->exact_list[size][residue];
		const struct pmm_region *r = pmm_residue_first(list), *prev = NULL;
		CHECK(!!(zone->exact_residues[size] & (1u << residue)) == !!r,
		      "zone %s: residue bit %u of size %llu disagrees with its list",
		      pmm_zone_name(z), residue, (unsigned long long)size);
		for (; r; prev = r, r = pmm_residue_next(list, r)) {
			CHECK(region_is_free(r) && zone_of_page(pmm, r->first_page) == z &&
				      r->pages == size && r->first_page % PMM_EXACT_RESIDUES == residue &&
				      r->link.free.residue_link.prev ==
					      (prev ? &prev->link.free.residue_link : list),
			      "zone %s: record at page %#llx misfiled in the list of size %llu",
			      pmm_zone_name(z), (unsigned long long)r->first_page,
			      (unsigned long long)size);
			(*listed)++;
			*treed += pmm_fit_shape_of(r->first_page, r->pages).peak_order >=
				  PMM_EXACT_TREE_ORDER;
		}
	}
	return NULL;
}

/*
 * Invariant 4: the classes hold exactly the zone's free records, each in its class: an inexact
 * class all of them in its tree, an exact class all in its residue lists and those holding a
 * 2^5-aligned page (no others) in its tree.
 */
static const char *check_zone_index(struct pmm *pmm, unsigned z)
{
	const struct pmm_zone_index *zone = &pmm->zone[z];
	uint64_t indexed = 0;
	const char *problem;
	for (unsigned row = 0; row < PMM_CLASS_ROWS; row++) {
		CHECK(!!(zone->row_bitmap & ((uint64_t)1 << row)) == !!zone->class_bitmap[row],
		      "zone %s: row bit %u disagrees with its classes", pmm_zone_name(z), row);
		for (unsigned sub = 0; sub < PMM_CLASS_SUBDIVISIONS; sub++) {
			struct size_class c = { row, sub };
			uint64_t size = size_class_lower_bound(c), listed = 0, expected_tree = 0;
			uint64_t in_tree = 0;
			bool exact = size < PMM_EXACT_CLASS_PAGES;
			const struct pmm_region *root = zone->class_root[row][sub];
			if (exact && (problem = check_exact_lists(pmm, z, size, &listed,
								   &expected_tree)))
				return problem;
			CHECK(!root || !root->link.free.fit.parent,
			      "zone %s: fit tree root of class (%u,%u) has a parent", pmm_zone_name(z),
			      row, sub);
			if ((problem = check_class_subtree(pmm, z, c, root, NULL, NULL, 0, &in_tree)))
				return problem;
			if (!exact)
				expected_tree = listed = in_tree;
			CHECK(in_tree == expected_tree,
			      "zone %s: class (%u,%u) tree holds %llu records, %llu expected",
			      pmm_zone_name(z), row, sub, (unsigned long long)in_tree,
			      (unsigned long long)expected_tree);
			CHECK(!!(zone->class_bitmap[row] & (1u << sub)) == (listed != 0),
			      "zone %s: class bit (%u,%u) disagrees with its records",
			      pmm_zone_name(z), row, sub);
			indexed += listed;
		}
	}
	CHECK(zone->row_bitmap >> PMM_CLASS_ROWS == 0, "zone %s: row bits beyond the last row",
	      pmm_zone_name(z));
	CHECK(indexed == zone->free_extents, "zone %s: %llu records indexed, %llu free extents",
	      pmm_zone_name(z), (unsigned long long)indexed,
	      (unsigned long long)zone->free_extents);
	return NULL;
}

static const char *check_pools(struct pmm *pmm, uint64_t records, uint64_t used_records)
{
	uint64_t hashed = 0, spares = 0;
	for (uint64_t b = 0; b < pmm->hash_bucket_count; b++)
		for (const struct pmm_region *r = pmm->hash_buckets[b]; r; r = r->link.hash_next) {
			CHECK(r->state == PMM_REGION_USED && hash_bucket(pmm, r->first_page) == b,
			      "hash bucket %llu holds a record of page %#llx that is not its own",
			      (unsigned long long)b, (unsigned long long)r->first_page);
			hashed++;
		}
	CHECK(hashed == used_records && pmm->used_records == used_records,
	      "hash holds %llu records (counter %llu), list has %llu used",
	      (unsigned long long)hashed, (unsigned long long)pmm->used_records,
	      (unsigned long long)used_records);
	CHECK(pmm->records_in_use == records, "records in use %llu, list has %llu",
	      (unsigned long long)pmm->records_in_use, (unsigned long long)records);
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
