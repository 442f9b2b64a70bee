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

static struct pmm_region **tree_of(struct pmm_size_classes *classes, uint64_t pages)
{
	struct pmm_size_class c = pmm_size_class_of(pages);
	return &classes->tree[c.row][c.sub];
}

void pmm_classes_init(struct pmm_size_classes *classes)
{
	memset(classes, 0, sizeof(*classes));
	for (unsigned row = 0; row < PMM_CLASS_ROWS; row++)
		for (unsigned sub = 0; sub < PMM_CLASS_SUBDIVISIONS; sub++)
			list_init(&classes->list[row][sub]);
	for (unsigned size = 0; size < PMM_EXACT_CLASS_PAGES; size++)
		for (unsigned residue = 0; residue < PMM_EXACT_RESIDUES; residue++)
			list_init(&classes->residue_list[size][residue]);
}

void pmm_classes_unfile(struct pmm_size_classes *classes, struct pmm_region *region, uint64_t *work)
{
	if (belongs_in_tree(region))
		pmm_fit_remove(tree_of(classes, region->pages), region, work);
	region->flags &= (uint8_t)~PMM_REGION_FLAG_FILED;
}

/* Files the unfiled records at the front of `list` (all of them: they come first). */
static void file_list(struct pmm_region **tree, struct list_node *list, uint64_t *work)
{
	for (struct list_node *node = list->next; node != list; node = node->next) {
		struct pmm_region *region = pmm_visit(work, record_of(node));
		if (region->flags & PMM_REGION_FLAG_FILED)
			break;
		region->flags |= PMM_REGION_FLAG_FILED;
		if (belongs_in_tree(region))
			pmm_fit_insert(tree, region, work);
	}
}

/* Brings the class's tree up to date: after this it holds every record of the class it should. */
static void file_class(struct pmm_size_classes *classes, struct pmm_size_class c, uint64_t *work)
{
	struct pmm_region **tree = &classes->tree[c.row][c.sub];
	uint64_t size = pmm_size_class_lower_bound(c);
	if (!pmm_size_is_exact(size)) {
		file_list(tree, &classes->list[c.row][c.sub], work);
		return;
	}
	for (uint32_t residues = classes->residues[size]; residues; residues &= residues - 1)
		file_list(tree, &classes->residue_list[size][__builtin_ctz(residues)], work);
}

/* Lemma 4 (top of this file) for one exact class of `size` pages, size >= pages. */
static struct pmm_region *search_exact_class(struct pmm_size_classes *classes,
					     struct pmm_size_class c, uint64_t size, uint64_t pages,
					     uint64_t align_pages, uint64_t *work)
{
	if (size >= pages + align_pages - 1)
		return pmm_classes_any(classes, c);
	if (align_pages <= PMM_EXACT_RESIDUES) {
		for (uint32_t residues = classes->residues[size]; residues; residues &= residues - 1) {
			unsigned residue = (unsigned)__builtin_ctz(residues);
			/* from first page ≡ residue, the next multiple of align is this far */
			if (((0u - residue) & (align_pages - 1)) <= size - pages)
				return record_of(classes->residue_list[size][residue].next);
		}
		return NULL;
	}
	file_class(classes, c, work);
	return pmm_fit_find(classes->tree[c.row][c.sub], pages, align_pages, work);
}

struct pmm_region *pmm_classes_search(struct pmm_size_classes *classes, struct pmm_size_class lowest,
				      struct pmm_size_class below, uint64_t pages,
				      uint64_t align_pages, uint64_t *work)
{
	/* The non-empty classes in [lowest, below), highest first. */
	for (int row = (int)MIN(below.row, (unsigned)PMM_CLASS_ROWS - 1); row >= (int)lowest.row;
	     row--) {
		uint32_t subs = classes->class_bitmap[row];
		if ((unsigned)row == below.row)
			subs &= (1u << below.sub) - 1;
		if ((unsigned)row == lowest.row)
			subs &= ~0u << lowest.sub;
		for (; subs; subs &= ~(1u << (31u - (unsigned)__builtin_clz(subs)))) {
			struct pmm_size_class c = { (unsigned)row, 31u - (unsigned)__builtin_clz(subs) };
			uint64_t size = pmm_size_class_lower_bound(c);
			pmm_visit(work, &classes->list[c.row][c.sub]); /* the class's heads */
			struct pmm_region *found;
			if (pmm_size_is_exact(size)) {
				found = search_exact_class(classes, c, size, pages, align_pages, work);
			} else {
				file_class(classes, c, work);
				found = pmm_fit_find(classes->tree[c.row][c.sub], pages, align_pages, work);
			}
			if (found)
				return found;
		}
	}
	return NULL;
}

uint64_t pmm_classes_longest(const struct pmm_size_classes *classes)
{
	if (!classes->row_bitmap)
		return 0;
	unsigned row = 63u - (unsigned)__builtin_clzll(classes->row_bitmap);
	unsigned sub = 31u - (unsigned)__builtin_clz(classes->class_bitmap[row]);
	uint64_t size = pmm_size_class_lower_bound((struct pmm_size_class){ row, sub });
	if (pmm_size_is_exact(size))
		return size;
	/* The filed records are summed up by the tree; the unfiled ones come first in the list. */
	uint64_t longest = pmm_fit_longest(classes->tree[row][sub]);
	const struct list_node *list = &classes->list[row][sub];
	for (const struct list_node *node = list->next; node != list; node = node->next) {
		const struct pmm_region *region = record_of(node);
		if (region->flags & PMM_REGION_FLAG_FILED)
			break;
		longest = MAX(longest, region->pages);
	}
	return longest;
}

uint64_t pmm_classes_count_by_order(const struct pmm_size_classes *classes,
				    uint64_t by_order[PMM_ORDER_COUNT])
{
	uint64_t records = 0;
	for (unsigned row = 0; row < PMM_CLASS_ROWS; row++) {
		for (unsigned sub = 0; sub < PMM_CLASS_SUBDIVISIONS; sub++) {
			uint64_t count = classes->count[row][sub];
			if (!count)
				continue;
			struct pmm_size_class c = { row, sub };
			by_order[ilog2_u64(pmm_size_class_lower_bound(c))] += count;
			records += count;
		}
	}
	return records;
}

unsigned pmm_classes_tallest_tree(const struct pmm_size_classes *classes)
{
	unsigned tallest = 0;
	for (unsigned row = 0; row < PMM_CLASS_ROWS; row++)
		for (unsigned sub = 0; sub < PMM_CLASS_SUBDIVISIONS; sub++)
			tallest = MAX(tallest, pmm_fit_height(classes->tree[row][sub]));
	return tallest;
}

/* ---- self-check ---------------------------------------------------------------------------- */

struct class_check {
	bool (*belongs)(void *ctx, const struct pmm_region *region);
	void *ctx;
	struct pmm_size_class c;
};

/* A tree node must pass the caller's test, be filed, be of this class and belong in a tree. */
static bool tree_node_belongs(void *ctx, const struct pmm_region *region)
{
	const struct class_check *check = ctx;
	struct pmm_size_class c = pmm_size_class_of(region->pages);
	return check->belongs(check->ctx, region) && (region->flags & PMM_REGION_FLAG_FILED) &&
	       c.row == check->c.row && c.sub == check->c.sub && belongs_in_tree(region);
}

/* One list: its records are of this extent class (and residue), unfiled first. */
static const char *check_list(const struct list_node *list, const struct class_check *check,
			      uint64_t size, int residue, const struct pmm_region **where,
			      uint64_t *listed, uint64_t *treed)
{
	bool filed_seen = false;
	const struct list_node *prev = list;
	for (const struct list_node *node = list->next; node != list; prev = node, node = node->next) {
		const struct pmm_region *r = *where = record_of(node);
		struct pmm_size_class c = pmm_size_class_of(r->pages);
		if (node->prev != prev)
			return "class list link broken";
		if (!check->belongs(check->ctx, r) || c.row != check->c.row || c.sub != check->c.sub ||
		    (residue >= 0 && (r->pages != size || r->first_page % PMM_EXACT_RESIDUES !=
								     (unsigned)residue)))
			return "record misfiled in its class list";
		if (r->flags & ~PMM_REGION_FLAG_FILED)
			return "free record has flags other than filed";
		bool filed = r->flags & PMM_REGION_FLAG_FILED;
		if (filed_seen && !filed)
			return "unfiled record after a filed one";
		filed_seen |= filed;
		(*listed)++;
		*treed += filed && belongs_in_tree(r);
	}
	*where = NULL;
	return NULL;
}

static const char *check_class(const struct pmm_size_classes *classes, struct class_check *check,
			       const struct pmm_region **where, uint64_t *indexed)
{
	struct pmm_size_class c = check->c;
	uint64_t size = pmm_size_class_lower_bound(c), listed = 0, treed = 0, nodes;
	const char *problem;
	if (pmm_size_is_exact(size)) {
		if (!classes->list[c.row][c.sub].next ||
		    !list_is_empty(&classes->list[c.row][c.sub]))
			return "an exact class's unused list is not empty";
		for (unsigned residue = 0; residue < PMM_EXACT_RESIDUES; residue++) {
			const struct list_node *list = &classes->residue_list[size][residue];
			if (!!(classes->residues[size] & (1u << residue)) == list_is_empty(list))
				return "residue bit disagrees with its list";
			if ((problem = check_list(list, check, size, (int)residue, where, &listed,
						  &treed)))
				return problem;
		}
	} else if ((problem = check_list(&classes->list[c.row][c.sub], check, size, -1, where,
					 &listed, &treed))) {
		return problem;
	}
	if (pmm_fit_check(classes->tree[c.row][c.sub], tree_node_belongs, check, where, &nodes))
		return "fit tree unsound, or holding a record it should not";
	if (nodes != treed)
		return "fit tree misses a filed record";
	if (!!(classes->class_bitmap[c.row] & (1u << c.sub)) != (listed != 0))
		return "class bit disagrees with its records";
	if (classes->count[c.row][c.sub] != listed)
		return "class count disagrees with its records";
	*indexed += listed;
	*where = NULL;
	return NULL;
}

const char *pmm_classes_check(const struct pmm_size_classes *classes,
			      bool (*belongs)(void *ctx, const struct pmm_region *region), void *ctx,
			      const struct pmm_region **where, uint64_t *indexed)
{
	const char *problem;
	*indexed = 0;
	*where = NULL;
	if (classes->row_bitmap >> PMM_CLASS_ROWS)
		return "row bits beyond the last row";
	for (unsigned row = 0; row < PMM_CLASS_ROWS; row++) {
		if (!!(classes->row_bitmap & ((uint64_t)1 << row)) != !!classes->class_bitmap[row])
			return "row bit disagrees with its classes";
		if (classes->class_bitmap[row] >> PMM_CLASS_SUBDIVISIONS)
			return "class bits beyond the last class of a row";
		for (unsigned sub = 0; sub < PMM_CLASS_SUBDIVISIONS; sub++) {
			struct class_check check = { belongs, ctx, { row, sub } };
			if ((problem = check_class(classes, &check, where, indexed)))
				return problem;
		}
	}
	return NULL;
}
