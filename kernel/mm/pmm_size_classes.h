/*
 * The size-class index of one zone's free records: TLSF's two-level segregated lists (Masmano et
 * al., ECRTS 2004), so that the first class whose every extent holds a request is found with two
 * find-first-set operations, plus a fit tree per class (pmm_fit_tree.h), filed lazily, for the
 * exact search below that class. The allocator's policy (which class to ask, what to carve) is
 * pmm.c's; this file keeps the classes and answers queries.
 *
 * CLASSES (PMM_CLASS_SUBDIVISION_BITS = 4, so 16 classes per row):
 *
 *   row r   extent sizes (pages)      class width    class (r, s) holds sizes
 *   0       1 .. 15                   1              s                   (s = 0 never used)
 *   1       16 .. 31                  1              16 + s
 *   2       32 .. 63                  2              (16 + s) * 2 .. + 1
 *   r >= 1  2^(r+3) .. 2^(r+4) - 1    2^(r-1)        (16 + s) * 2^(r-1) .. + 2^(r-1) - 1
 *   37      2^40 .. 2^41 - 1          2^36
 *
 *   row_bitmap (64 bits)       bit r = 1  <=>  class_bitmap[r] != 0          (rows 0..37 used)
 *   class_bitmap[r] (32 bits)  bit s = 1  <=>  class (r, s) holds a record   (bits 0..15 used)
 *
 *   A class never holds sizes that differ by more than 1/16 of its lower bound. Sizes under 32
 *   pages have a class each ("exact"), whose records are listed by first page modulo 16 (16
 *   residue lists, residue bit r set iff list r is non-empty); an inexact class has one list.
 *
 * LAZY FIT TREES. Every free record is in its class's list. Its class's fit tree is brought up
 * to date only when an exact search needs that class (file_class): until then a record is
 * UNFILED and in no tree; filing puts it in the tree if it belongs there (every record of an
 * inexact class; in an exact class those holding a 2^5-aligned page: lemma 4, pmm_size_classes.c)
 * and marks it PMM_REGION_FLAG_FILED. Unfiled records come before filed ones in every list
 * (records enter at the front; filing walks from the front), so filing visits only the unfiled.
 * So inserting, removing and reshaping an unfiled record cost no tree work: O(1), like TLSF. A
 * filed record leaves its tree when it is removed or changes extent (it is unfiled again).
 *
 * BOUNDS (visits, pmm_visit; h the class tree's height, pmm_fit_tree.h):
 *   insert: 0.  remove, reshape: 0 for an unfiled record, <= 4(h + 1) for a filed one.
 *   any_at_or_above: 0 (two find-first-set operations; the caller counts the record it takes).
 *   search: per non-empty class in [lowest, below): 1, + filing (1 + 3(h + 1) per unfiled record
 *   that belongs in the tree, 1 per other unfiled record) + pmm_fit_find, or <= 16 for an exact
 *   class's residue lists. Amortised: a record is filed at most once per insert or reshape that
 *   made it unfiled, so filing and unfiling add at most 1 + 7(h + 1) to each of those.
 * The functions run on every alloc and free, so the hot ones are inline.
 */
#ifndef PAGESCOPE_MM_PMM_SIZE_CLASSES_H
#define PAGESCOPE_MM_PMM_SIZE_CLASSES_H

#include "pmm_fit_tree.h"

/* Orders 0..PMM_ORDER_COUNT-1; an extent of n pages has order floor(log2(n)). 2^40 pages = 2^52 B. */
#define PMM_ORDER_COUNT 41
/* Largest request or alignment considered; beyond it nothing can fit (2^40 pages = 2^52 bytes). */
#define PMM_MAX_PAGES ((uint64_t)1 << (PMM_ORDER_COUNT - 1))

#define PMM_CLASS_SUBDIVISION_BITS 4
#define PMM_CLASS_SUBDIVISIONS (1u << PMM_CLASS_SUBDIVISION_BITS)
#define PMM_CLASS_ROWS (PMM_ORDER_COUNT - PMM_CLASS_SUBDIVISION_BITS + 1)
/* Classes below this many pages hold a single size, listed by first page mod PMM_EXACT_RESIDUES. */
#define PMM_EXACT_CLASS_PAGES (2 * PMM_CLASS_SUBDIVISIONS)
#define PMM_EXACT_RESIDUES 16
/* Of an exact class, only records holding a page aligned to 2^this are in the fit tree. */
#define PMM_EXACT_TREE_ORDER 5
_Static_assert((1u << PMM_EXACT_TREE_ORDER) >= PMM_EXACT_CLASS_PAGES,
	       "an exact extent must hold at most one page aligned to 2^PMM_EXACT_TREE_ORDER");

struct pmm_size_class {
	unsigned row, sub;
};

static inline struct pmm_size_class pmm_size_class_of(uint64_t pages)
{
	if (pages < PMM_CLASS_SUBDIVISIONS)
		return (struct pmm_size_class){ 0, (unsigned)pages };
	unsigned order = ilog2_u64(pages);
	return (struct pmm_size_class){ order - PMM_CLASS_SUBDIVISION_BITS + 1,
					(unsigned)(pages >> (order - PMM_CLASS_SUBDIVISION_BITS)) -
						PMM_CLASS_SUBDIVISIONS };
}

/* log2 of how many sizes share the class of `pages`. */
static inline unsigned pmm_size_class_width_log2(uint64_t pages)
{
	return pages < 2 * PMM_CLASS_SUBDIVISIONS ? 0
						  : ilog2_u64(pages) - PMM_CLASS_SUBDIVISION_BITS;
}

static inline uint64_t pmm_size_class_lower_bound(struct pmm_size_class c)
{
	if (c.row == 0)
		return c.sub;
	return (uint64_t)(PMM_CLASS_SUBDIVISIONS + c.sub) << (c.row - 1);
}

/* The first class all of whose extents have at least `pages` pages. */
static inline struct pmm_size_class pmm_size_class_at_least(uint64_t pages)
{
	return pmm_size_class_of(pages + ((uint64_t)1 << pmm_size_class_width_log2(pages)) - 1);
}

static inline bool pmm_size_is_exact(uint64_t pages)
{
	return pages < PMM_EXACT_CLASS_PAGES;
}

struct pmm_size_classes {
	uint64_t row_bitmap;
	uint32_t class_bitmap[PMM_CLASS_ROWS];
	/* inexact classes: their records, unfiled first (the exact rows' entries are unused) */
	struct list_node list[PMM_CLASS_ROWS][PMM_CLASS_SUBDIVISIONS];
	struct pmm_region *tree[PMM_CLASS_ROWS][PMM_CLASS_SUBDIVISIONS]; /* fit trees: the filed */
	uint64_t count[PMM_CLASS_ROWS][PMM_CLASS_SUBDIVISIONS];          /* records per class */
	/* exact classes, by size: residue lists (unfiled first), bit r set iff list r is non-empty */
	struct list_node residue_list[PMM_EXACT_CLASS_PAGES][PMM_EXACT_RESIDUES];
	uint16_t residues[PMM_EXACT_CLASS_PAGES];
};

/* The list a free record of this extent belongs in. */
static inline struct list_node *pmm_classes_list_for(struct pmm_size_classes *classes,
						     uint64_t first_page, uint64_t pages)
{
	if (pmm_size_is_exact(pages))
		return &classes->residue_list[pages][first_page % PMM_EXACT_RESIDUES];
	struct pmm_size_class c = pmm_size_class_of(pages);
	return &classes->list[c.row][c.sub];
}

/* Out of line (pmm_size_classes.c): a filed record leaves its tree, if it is in one. */
void pmm_classes_unfile(struct pmm_size_classes *classes, struct pmm_region *region, uint64_t *work);

/* Adds a free record (in no class), unfiled. */
static ALWAYS_INLINE void pmm_classes_insert(struct pmm_size_classes *classes, struct pmm_region *region)
{
	uint64_t pages = region->pages;
	struct pmm_size_class c = pmm_size_class_of(pages);
	region->flags = 0;
	list_push_front(pmm_classes_list_for(classes, region->first_page, pages),
			&region->link.free.class_link);
	if (pmm_size_is_exact(pages))
		classes->residues[pages] |= (uint16_t)(1u << (region->first_page % PMM_EXACT_RESIDUES));
	classes->count[c.row][c.sub]++;
	classes->class_bitmap[c.row] |= 1u << c.sub;
	classes->row_bitmap |= (uint64_t)1 << c.row;
}

/* Takes a free record out of its class (before its extent changes: the class comes from it). */
static ALWAYS_INLINE void pmm_classes_remove(struct pmm_size_classes *classes,
					     struct pmm_region *region, uint64_t *work)
{
	struct list_node *link = &region->link.free.class_link;
	uint64_t pages = region->pages;
	struct pmm_size_class c = pmm_size_class_of(pages);
	if (pmm_size_is_exact(pages) && link->prev == link->next) {
		/* alone in its residue list (in a circular list, prev == next only then) */
		classes->residues[pages] &= (uint16_t)~(1u << (region->first_page % PMM_EXACT_RESIDUES));
	}
	list_remove(link);
	if (unlikely(region->flags & PMM_REGION_FLAG_FILED))
		pmm_classes_unfile(classes, region, work);
	if (--classes->count[c.row][c.sub])
		return;
	classes->class_bitmap[c.row] &= ~(1u << c.sub);
	if (!classes->class_bitmap[c.row])
		classes->row_bitmap &= ~((uint64_t)1 << c.row);
}

/*
 * Gives a free record a new extent. When both extents are in the same inexact class the record
 * keeps its place (an unfiled one costs nothing: the common case of a large extent shrinking or
 * growing at an edge); otherwise it moves to the class of its new size.
 */
static ALWAYS_INLINE void pmm_classes_reshape(struct pmm_size_classes *classes, struct pmm_region *region,
				       uint64_t first_page, uint64_t pages, uint64_t *work)
{
	uint64_t was = region->pages;
	if (!pmm_size_is_exact(was) && !pmm_size_is_exact(pages) &&
	    ((was ^ pages) >> pmm_size_class_width_log2(was)) == 0) {
		if (unlikely(region->flags & PMM_REGION_FLAG_FILED)) {
			pmm_classes_unfile(classes, region, work);
			struct list_node *list = pmm_classes_list_for(classes, first_page, pages);
			list_remove(&region->link.free.class_link);
			list_push_front(list, &region->link.free.class_link);
		}
		region->first_page = first_page;
		region->pages = pages;
		return;
	}
	pmm_classes_remove(classes, region, work);
	region->first_page = first_page;
	region->pages = pages;
	pmm_classes_insert(classes, region);
}

/* A record of the class `c`, known to be non-empty: the head of its list, unfiled if any is. */
static inline struct pmm_region *pmm_classes_any(const struct pmm_size_classes *classes,
						 struct pmm_size_class c)
{
	const struct list_node *list;
	if (c.row < 2) {
		uint64_t size = pmm_size_class_lower_bound(c);
		list = &classes->residue_list[size][__builtin_ctz(classes->residues[size])];
	} else {
		list = &classes->list[c.row][c.sub];
	}
	return container_of(list->next, struct pmm_region, link.free.class_link);
}

/* A record of the first non-empty class at or above `from`, or NULL. Two find-first-set. */
static inline struct pmm_region *pmm_classes_any_at_or_above(const struct pmm_size_classes *classes,
							     struct pmm_size_class from)
{
	if (from.row >= PMM_CLASS_ROWS)
		return NULL;
	uint32_t subs = classes->class_bitmap[from.row] & (~0u << from.sub);
	unsigned row = from.row;
	if (!subs) {
		uint64_t rows = classes->row_bitmap & (~(uint64_t)1 << from.row);
		if (!rows)
			return NULL;
		row = (unsigned)__builtin_ctzll(rows);
		subs = classes->class_bitmap[row];
	}
	return pmm_classes_any(classes, (struct pmm_size_class){ row, (unsigned)__builtin_ctz(subs) });
}

/* An empty index. */
void pmm_classes_init(struct pmm_size_classes *classes);

/*
 * The exact search: a record of a class in [lowest, below) holding `pages` pages at a multiple
 * of `align_pages`, or NULL if none can (the proof: pmm.c, NO FALSE FAILURE). Classes are tried
 * highest first; each class's tree is filed first when the search needs it.
 */
struct pmm_region *pmm_classes_search(struct pmm_size_classes *classes, struct pmm_size_class lowest,
				      struct pmm_size_class below, uint64_t pages,
				      uint64_t align_pages, uint64_t *work);

/* The longest free extent indexed (0 if none): O(the unfiled records of the highest class). */
uint64_t pmm_classes_longest(const struct pmm_size_classes *classes);
/*
 * Adds to by_order[o] the records of order o (floor(log2(pages))), from the class counts: every
 * class below 16 pages is one size, every class of row r >= 1 has order r + 3. Returns the number
 * of records. O(classes).
 */
uint64_t pmm_classes_count_by_order(const struct pmm_size_classes *classes,
				    uint64_t by_order[PMM_ORDER_COUNT]);
/* The tallest class tree. */
unsigned pmm_classes_tallest_tree(const struct pmm_size_classes *classes);

/*
 * Self-check of the index: bitmaps agree with the lists, every record is in the list of its
 * class and residue and passes belongs(ctx, record) (the caller's conditions: free, its zone),
 * unfiled records come first, the filed ones that belong in a tree are exactly its nodes, and
 * each tree is sound (pmm_fit_check). Returns NULL, or a description of the first fault with the
 * record concerned at *where (NULL for a bitmap fault); *indexed receives the records listed.
 */
const char *pmm_classes_check(const struct pmm_size_classes *classes,
			      bool (*belongs)(void *ctx, const struct pmm_region *region), void *ctx,
			      const struct pmm_region **where, uint64_t *indexed);

#endif
