/*
 * The size-class index's cold paths (the classes, the lazy trees and the bounds are drawn in
 * pmm_size_classes.h): filing a class's tree, the exact search below the guaranteed class, the
 * statistics and the self-check.
 *
 * EXACT CLASSES (lemma 4). An exact class holds extents of one size L < 32 = 2^5. For an
 * alignment a <= 16 the lowest aligned page of an extent depends only on its first page modulo 16,
 * so one record per residue list answers exactly. For a = 2^k >= 32 > L an extent holds at most one
 * page aligned to a; if it holds one, that page is its peak P (T >= k), so it fits iff T >= k and
 * the right arm ρ >= n: only records of peak order >= 5 can qualify, and exactly those are filed
 * into the class's tree, whose search (pmm_fit_find, lemma 2) finds one if it exists.
 */
#include "pmm_size_classes.h"

static inline struct pmm_region *record_of(const struct list_node *node)
{
	return container_of((struct list_node *)node, struct pmm_region, link.free.class_link);
}

/* Whether a free record goes in its class's tree once filed (lemma 4 for exact classes). */
static bool belongs_in_tree(const struct pmm_region *region)
{
	return !pmm_size_is_exact(region->pages) ||
	       pmm_fit_shape_of(region->first_page, region->pages).peak_order >= PMM_EXACT_TREE_ORDER;
}

void pmm_classes_init(struct pmm_size_classes *index)
{
	memset(index, 0, sizeof(*index));
	for (unsigned c = 0; c < PMM_CLASS_COUNT; c++)
		list_init(&index->classes[c].unfiled);
	for (unsigned size = 0; size < PMM_EXACT_CLASS_PAGES; size++)
		for (unsigned residue = 0; residue < PMM_EXACT_RESIDUES; residue++)
			list_init(&index->residue_list[size][residue]);
}

void pmm_classes_unfile(struct pmm_size_classes *index, struct pmm_region *region, uint64_t *work)
{
	uint64_t pages = region->pages;
	if (pmm_size_is_exact(pages)) {
		struct list_node *link = &region->link.free.class_link;
		/* In a circular list with a sentinel, prev == next only for a node alone in it. */
		if (link->prev == link->next)
			index->residues[pages] &=
				(uint16_t)~(1u << (region->first_page % PMM_EXACT_RESIDUES));
		list_remove(link);
	}
	if (belongs_in_tree(region))
		pmm_fit_remove(&index->classes[region->size_class].tree, region, work);
	region->flags &= (uint8_t)~PMM_REGION_FLAG_FILED;
}

/* Files every unfiled record of class c: afterwards its tree and residue lists hold them all. */
static void file_class(struct pmm_size_classes *index, unsigned c, uint64_t *work)
{
	struct list_node *unfiled = &index->classes[c].unfiled;
	while (!list_is_empty(unfiled)) {
		struct pmm_region *region = pmm_visit(work, record_of(unfiled->next));
		list_remove(&region->link.free.class_link);
		region->flags |= PMM_REGION_FLAG_FILED;
		if (pmm_size_is_exact(region->pages)) {
			unsigned residue = region->first_page % PMM_EXACT_RESIDUES;
			list_push_front(&index->residue_list[region->pages][residue],
					&region->link.free.class_link);
			index->residues[region->pages] |= (uint16_t)(1u << residue);
		}
		if (belongs_in_tree(region))
			pmm_fit_insert(&index->classes[c].tree, region, work);
	}
}

/* Lemma 4 (top of this file) for exact class c (of c pages), pages <= c < pages + align - 1. */
static struct pmm_region *search_exact_class(struct pmm_size_classes *index, unsigned c,
					     uint64_t pages, uint64_t align_pages, uint64_t *work)
{
	file_class(index, c, work);
	if (align_pages > PMM_EXACT_RESIDUES)
		return pmm_fit_find(index->classes[c].tree, pages, align_pages, work);
	for (uint32_t residues = index->residues[c]; residues; residues &= residues - 1) {
		unsigned residue = (unsigned)__builtin_ctz(residues);
		/* from first page ≡ residue, the next multiple of align is this far */
		if (((0u - residue) & (align_pages - 1)) <= c - pages)
			return record_of(index->residue_list[c][residue].next);
	}
	return NULL;
}

struct pmm_region *pmm_classes_search(struct pmm_size_classes *index, unsigned lowest,
				      unsigned below, uint64_t pages, uint64_t align_pages,
				      uint64_t *work)
{
	/* The non-empty classes in [lowest, below), highest first. */
	below = MIN(below, (unsigned)PMM_CLASS_COUNT);
	for (unsigned row = below / PMM_CLASS_SUBDIVISIONS + 1; row-- > lowest / PMM_CLASS_SUBDIVISIONS;) {
		if (row >= PMM_CLASS_ROWS)
			continue;
		uint32_t subs = index->class_bitmap[row];
		if (row == below / PMM_CLASS_SUBDIVISIONS)
			subs &= (1u << (below % PMM_CLASS_SUBDIVISIONS)) - 1;
		if (row == lowest / PMM_CLASS_SUBDIVISIONS)
			subs &= ~0u << (lowest % PMM_CLASS_SUBDIVISIONS);
		for (; subs; subs &= ~(1u << (31u - (unsigned)__builtin_clz(subs)))) {
			unsigned c = row * PMM_CLASS_SUBDIVISIONS + 31u - (unsigned)__builtin_clz(subs);
			pmm_visit(work, &index->classes[c]); /* the class's heads */
			struct pmm_region *found;
			if (pmm_size_is_exact(c)) {
				found = search_exact_class(index, c, pages, align_pages, work);
			} else {
				file_class(index, c, work);
				found = pmm_fit_find(index->classes[c].tree, pages, align_pages, work);
			}
			if (found)
				return found;
		}
	}
	return NULL;
}

uint64_t pmm_classes_records(const struct pmm_size_classes *index)
{
	uint64_t records = index->deferred != NULL;
	for (unsigned c = 0; c < PMM_CLASS_COUNT; c++)
		records += index->classes[c].count;
	return records;
}

unsigned pmm_classes_tallest_tree(const struct pmm_size_classes *index)
{
	unsigned tallest = 0;
	for (unsigned c = 0; c < PMM_CLASS_COUNT; c++)
		tallest = MAX(tallest, pmm_fit_height(index->classes[c].tree));
	return tallest;
}

/* ---- self-check ---------------------------------------------------------------------------- */

struct class_check {
	bool (*belongs)(void *ctx, const struct pmm_region *region);
	void *ctx;
	unsigned c;
	const struct pmm_region *lagging; /* the index's lagging record */
	bool *lagging_seen;               /* set when an unfiled list holds it */
};

/* A tree node must pass the caller's test, be filed, be of this class and belong in a tree. */
static bool tree_node_belongs(void *ctx, const struct pmm_region *region)
{
	const struct class_check *check = ctx;
	return check->belongs(check->ctx, region) && (region->flags & PMM_REGION_FLAG_FILED) &&
	       pmm_class_of(region->pages) == check->c && region->size_class == check->c &&
	       belongs_in_tree(region);
}

/*
 * One list of the class: its records pass the caller's test, are of this class, filed or not as
 * the list says, of the residue it is for (residue < 0: any). Counts them and those in a tree.
 */
static const char *check_list(const struct list_node *list, const struct class_check *check,
			      bool filed, int residue, const struct pmm_region **where,
			      uint64_t *listed, uint64_t *treed)
{
	const struct list_node *prev = list;
	for (const struct list_node *node = list->next; node != list; prev = node, node = node->next) {
		const struct pmm_region *r = *where = record_of(node);
		if (node->prev != prev)
			return "class list link broken";
		/* of this class; the lagging record (unfiled) may be of a class below it */
		bool lagging = !filed && r == check->lagging;
		unsigned own = pmm_class_of(r->pages);
		*check->lagging_seen |= lagging;
		if (!check->belongs(check->ctx, r) || (lagging ? own > check->c : own != check->c) ||
		    r->size_class != check->c ||
		    (residue >= 0 && r->first_page % PMM_EXACT_RESIDUES != (unsigned)residue))
			return "record misfiled in its class's lists";
		if (r->flags != (filed ? PMM_REGION_FLAG_FILED : 0))
			return filed ? "record in a residue list is not marked filed"
				     : "record on the unfiled list is marked filed, or has flags";
		(*listed)++;
		*treed += filed && belongs_in_tree(r);
	}
	*where = NULL;
	return NULL;
}

static const char *check_class(const struct pmm_size_classes *index, struct class_check *check,
			       const struct pmm_region **where, uint64_t *indexed)
{
	unsigned c = check->c;
	uint64_t listed = 0, treed = 0, nodes;
	const char *problem =
		check_list(&index->classes[c].unfiled, check, false, -1, where, &listed, &treed);
	if (problem)
		return problem;
	if (pmm_size_is_exact(c)) {
		for (unsigned residue = 0; residue < PMM_EXACT_RESIDUES; residue++) {
			const struct list_node *list = &index->residue_list[c][residue];
			if (!!(index->residues[c] & (1u << residue)) == list_is_empty(list))
				return "residue bit disagrees with its list";
			if ((problem = check_list(list, check, true, (int)residue, where, &listed,
						  &treed)))
				return problem;
		}
	}
	if (pmm_fit_check(index->classes[c].tree, tree_node_belongs, check, where, &nodes))
		return "fit tree unsound, or holding a record it should not";
	if (!pmm_size_is_exact(c))
		listed += nodes; /* an inexact class's filed records are in its tree alone */
	else if (nodes != treed)
		return "fit tree and residue lists disagree on the filed records";
	*where = NULL;
	if (index->classes[c].count != listed)
		return "class count disagrees with its records";
	if (!!(index->class_bitmap[c / PMM_CLASS_SUBDIVISIONS] & (1u << (c % PMM_CLASS_SUBDIVISIONS))) !=
	    (listed != 0))
		return "class bit disagrees with its records";
	*indexed += listed;
	return NULL;
}

const char *pmm_classes_check(const struct pmm_size_classes *index,
			      bool (*belongs)(void *ctx, const struct pmm_region *region), void *ctx,
			      const struct pmm_region **where, uint64_t *indexed)
{
	const char *problem;
	*indexed = 0;
	*where = NULL;
	if (index->row_bitmap >> PMM_CLASS_ROWS)
		return "row bits beyond the last row";
	if (index->class_bitmap[PMM_CLASS_ROWS])
		return "class bits in the spare row past the last";
	for (unsigned row = 0; row < PMM_CLASS_ROWS; row++) {
		if (!!(index->row_bitmap & ((uint64_t)1 << row)) != !!index->class_bitmap[row])
			return "row bit disagrees with its classes";
		if (index->class_bitmap[row] >> PMM_CLASS_SUBDIVISIONS)
			return "class bits beyond the last class of a row";
	}
	bool lagging_seen = false;
	for (unsigned c = 0; c < PMM_CLASS_COUNT; c++) {
		struct class_check check = { belongs, ctx, c, index->lagging, &lagging_seen };
		if ((problem = check_class(index, &check, where, indexed)))
			return problem;
	}
	*where = index->lagging;
	if (index->lagging && !lagging_seen)
		return "the lagging record is on no unfiled list";
	if (index->lagging && pmm_class_of(index->lagging_pages) != index->lagging->size_class)
		return "the lagging record's size before its carve is not of its class";
	*where = index->deferred;
	if (index->deferred) {
		/* on no list (its class would not match there), so counted here */
		if (!belongs(ctx, index->deferred) || index->deferred->flags ||
		    index->deferred->size_class != PMM_CLASS_NONE || index->deferred == index->lagging)
			return "the deferred record is not a free unfiled record of no class, or lags";
		(*indexed)++;
	}
	*where = NULL;
	return NULL;
}
