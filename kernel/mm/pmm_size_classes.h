/*
 * The size-class index of one zone's free records: TLSF's two-level segregated lists (Masmano et
 * al., ECRTS 2004), so that the first class whose every extent holds a request is found with two
 * find-first-set operations, plus a fit tree per class (pmm_fit_tree.h), filed lazily, for the
 * exact search below that class. The allocator's policy (which class to ask, what to carve) is
 * pmm_regions.c's; this file keeps the classes and answers queries.
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
 *   Class (r, s) is number c = 16 r + s. With w = max(floor(log2 n), 4) - 4 (the class width is
 *   2^w), the class of n pages is c = 16 w + (n >> w): one formula for every row, no branch.
 *
 *   row_bitmap (64 bits)       bit r = 1  <=>  class_bitmap[r] != 0          (rows 0..37 used)
 *   class_bitmap[r] (32 bits)  bit s = 1  <=>  class 16 r + s holds a record (bits 0..15 used)
 *
 *   A class never holds sizes that differ by more than 1/16 of its lower bound. Sizes under 32
 *   pages have a class each ("exact"); the others share a class ("inexact").
 *
 * LAZY FIT TREES. A free record enters its class UNFILED: on the class's list of unfiled
 * records, in no tree. Only when an exact search needs the class is it filed (file_class): every
 * unfiled record leaves the list for the class's fit tree (an inexact class), or for the residue
 * list of its first page mod 16 and, if it holds a 2^5-aligned page, the tree (an exact class:
 * lemma 4, pmm_size_classes.c), and is marked PMM_REGION_FLAG_FILED. So inserting, removing and
 * reshaping an unfiled record cost no tree work: O(1), like TLSF. A filed record leaves its tree
 * when it is removed or changes extent, and comes back unfiled.
 *
 * THE LAGGING RECORD. A carve that shrinks an unfiled record leaves it in its class, even below
 * it (it LAGS: its class is above the class of its size), and names it `lagging`; the next
 * allocation settles it (moves it down to the class of its size if it lags, and forgets it) before
 * it reads the index, unless a free has grown it back into its class first (then it is forgotten). So the usual pair, a carve and the
 * free that gives the pages back, moves nothing in the index, and a run of carves pays one class
 * move each, as before. At most one record lags, and only between a carve and the next
 * allocation: every search and every filing reads an index whose records are all in the class of
 * their size. Frees in between: growing the lagging record past its class moves it up at once;
 * removing it forgets it. The carve keeps the size it had (`lagging_pages`, of its class: the
 * carve came after a settle), so the free that grows it back to that size knows it is in its
 * class again without computing a class.
 *
 * THE DEFERRED RECORD. A carve that leaves both a head and a tail (an aligned run from the middle
 * of an extent, as a 1 GiB page is) keeps the larger remainder in the shrunk record and puts the
 * other in a new record; that one enters NO class yet (size_class PMM_CLASS_NONE, unfiled) and is
 * named `deferred`: the next allocation links it into the class of its size when it settles, so a
 * free that merges it away first (the pair's free: the run's neighbours are the head and the
 * tail) just forgets it, and the pair does no class work for it. A free that grows it keeps it
 * deferred, in no class. At most one record is deferred, and only between a carve and the next
 * allocation (every carve comes after a settle), so searches and filing never meet it.
 *
 * BOUNDS (visits, pmm_visit; h the class tree's height, pmm_fit_tree.h):
 *   insert, shrink: 0.  remove, grow: 0 for an unfiled record, <= 4(h + 1) for a filed one.
 *   settle: 0 (at most two records moved or linked: a fixed cost).
 *   any_at_or_above: 0 (two find-first-set operations; the caller counts the record it takes).
 *   search: per non-empty class in [lowest, below): 1, + filing (at most 1 + 3(h + 1) per
 *   unfiled record) + pmm_fit_find (1 + 2h, pmm_fit_tree.h), or the residue lists' heads (no
 *   visit counted beyond the class: at most 16 reads). Amortised: a record is filed at most once
 *   per insert or reshape that made it unfiled, so filing and unfiling add at most 1 + 7(h + 1)
 *   to each of those.
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

#define PMM_CLASS_COUNT (PMM_CLASS_ROWS * PMM_CLASS_SUBDIVISIONS)
/* The size_class of the deferred record (THE DEFERRED RECORD): in no class. */
#define PMM_CLASS_NONE UINT16_MAX
_Static_assert(PMM_CLASS_COUNT < PMM_CLASS_NONE, "PMM_CLASS_NONE is no class");

/* log2 of how many sizes share the class of `pages` (0 for the exact classes). */
static inline unsigned pmm_class_width_log2(uint64_t pages)
{
	return pages < PMM_EXACT_CLASS_PAGES ? 0 : ilog2_u64(pages) - PMM_CLASS_SUBDIVISION_BITS;
}

/* The class of an extent of `pages` pages (1 .. 2^41 - 1); an exact class is numbered by its size. */
static inline unsigned pmm_class_of(uint64_t pages)
{
	if (pages < PMM_EXACT_CLASS_PAGES)
		return (unsigned)pages;
	unsigned width = ilog2_u64(pages) - PMM_CLASS_SUBDIVISION_BITS;
	return (width << PMM_CLASS_SUBDIVISION_BITS) + (unsigned)(pages >> width);
}

/* The smallest size of class c. */
static inline uint64_t pmm_class_lower_bound(unsigned c)
{
	if (c < PMM_CLASS_SUBDIVISIONS)
		return c;
	return (uint64_t)(PMM_CLASS_SUBDIVISIONS + c % PMM_CLASS_SUBDIVISIONS)
	       << (c / PMM_CLASS_SUBDIVISIONS - 1);
}

/* The first class all of whose extents have at least `pages` (>= 1) pages: the one after the
 * class of pages - 1. (The classes tile the sizes in order, so the next class starts right
 * after the largest size of that one, which is at least pages - 1, and that one holds
 * pages - 1 itself.) Below PMM_EXACT_CLASS_PAGES that is `pages` itself (the class of
 * pages - 1 is exact); from there, one class computation, where testing `pages` against its own
 * class's lower bound took five instructions more. */
static inline unsigned pmm_class_at_least(uint64_t pages)
{
	if (pages < PMM_EXACT_CLASS_PAGES)
		return (unsigned)pages;
	uint64_t below = pages - 1;
	unsigned width = ilog2_u64(below) - PMM_CLASS_SUBDIVISION_BITS;
	return (width << PMM_CLASS_SUBDIVISION_BITS) + (unsigned)(below >> width) + 1;
}

static inline bool pmm_size_is_exact(uint64_t pages)
{
	return pages < PMM_EXACT_CLASS_PAGES;
}

/* One size class of one zone. */
struct pmm_class {
	struct list_node unfiled; /* its unfiled records */
	struct pmm_region *tree;  /* the fit tree of its filed records (exact: of peak order >= 5) */
	uint64_t count;           /* its records */
};

struct pmm_size_classes {
	uint64_t row_bitmap;
	/* one row more, always 0: the row a request past every class asks (pages + align - 1 up to
	 * 2^41 - 1: class 608), so any_at_or_above needs no range test */
	uint32_t class_bitmap[PMM_CLASS_ROWS + 1];
	struct pmm_class classes[PMM_CLASS_COUNT];
	/* exact classes, by size: filed records by first page mod 16; bit r: list r non-empty */
	struct list_node residue_list[PMM_EXACT_CLASS_PAGES][PMM_EXACT_RESIDUES];
	uint16_t residues[PMM_EXACT_CLASS_PAGES];
	/* the unfiled record the last carve shrank, perhaps below its class, or NULL (THE LAGGING
	 * RECORD); every other record is in the class of its size */
	struct pmm_region *lagging;
	uint64_t lagging_pages; /* its size before the carve (in its class), while there is one */
	/* the free record the last carve split off beside its run, in no class yet, or NULL (THE
	 * DEFERRED RECORD) */
	struct pmm_region *deferred;
};

/* Out of line (pmm_size_classes.c): takes a filed record out of its tree and residue list. */
void pmm_classes_unfile(struct pmm_size_classes *index, struct pmm_region *region, uint64_t *work);

/* Adds an unfiled free record (in no class) to class c, the class of its size. */
static ALWAYS_INLINE void pmm_classes_link(struct pmm_size_classes *index,
					   struct pmm_region *region, unsigned c)
{
	region->size_class = (uint16_t)c;
	list_push_front(&index->classes[c].unfiled, &region->link.free.class_link);
	index->classes[c].count++;
	index->class_bitmap[c / PMM_CLASS_SUBDIVISIONS] |= 1u << (c % PMM_CLASS_SUBDIVISIONS);
	index->row_bitmap |= (uint64_t)1 << (c / PMM_CLASS_SUBDIVISIONS);
}

/* Adds a free record (in no class), unfiled. */
static ALWAYS_INLINE void pmm_classes_insert(struct pmm_size_classes *index,
					     struct pmm_region *region)
{
	region->flags = 0;
	pmm_classes_link(index, region, pmm_class_of(region->pages));
}

/* A record has left class c's lists and tree: one fewer in the class. */
static ALWAYS_INLINE void pmm_classes_uncount(struct pmm_size_classes *index, unsigned c)
{
	if (--index->classes[c].count)
		return;
	index->class_bitmap[c / PMM_CLASS_SUBDIVISIONS] &= ~(1u << (c % PMM_CLASS_SUBDIVISIONS));
	if (!index->class_bitmap[c / PMM_CLASS_SUBDIVISIONS])
		index->row_bitmap &= ~((uint64_t)1 << (c / PMM_CLASS_SUBDIVISIONS));
}

/* Takes an unfiled free record out of its class (before its extent changes). */
static ALWAYS_INLINE void pmm_classes_remove_unfiled(struct pmm_size_classes *index,
						     struct pmm_region *region)
{
	list_unlink(&region->link.free.class_link);
	pmm_classes_uncount(index, region->size_class);
}

/* Takes a free record out of its class (before its extent changes: the class comes from it). */
static ALWAYS_INLINE void pmm_classes_remove(struct pmm_size_classes *index,
					     struct pmm_region *region, uint64_t *work)
{
	if (likely(!(region->flags & PMM_REGION_FLAG_FILED))) {
		pmm_classes_remove_unfiled(index, region);
		return;
	}
	pmm_classes_unfile(index, region, work);
	pmm_classes_uncount(index, region->size_class);
}

/*
 * Shrinks an unfiled free record (a carve; no record lags: the allocation has settled it). It
 * stays in its class, lagging if it is now below it (THE LAGGING RECORD), so that the free that
 * gives the pages back finds it in its class again: no index work either way.
 */
static ALWAYS_INLINE void pmm_classes_shrink_unfiled(struct pmm_size_classes *index,
						     struct pmm_region *region,
						     uint64_t first_page, uint64_t pages)
{
	index->lagging_pages = region->pages;
	region->first_page = first_page;
	region->pages = pages;
	index->lagging = region; /* whether it lags is asked when it matters: the next allocation */
}

/* A new free record split off by a carve that also shrank another (a head beside a tail),
 * unfiled and of class PMM_CLASS_NONE (as the record pool hands records out): in no class until
 * the next allocation settles it (THE DEFERRED RECORD; no record is deferred: the carve came
 * after a settle). */
static ALWAYS_INLINE void pmm_classes_defer(struct pmm_size_classes *index,
					    struct pmm_region *region)
{
	index->deferred = region;
}

/* Moves an unfiled record to class c (the class of its size, another than its own). */
static ALWAYS_INLINE void pmm_classes_move_unfiled(struct pmm_size_classes *index,
						   struct pmm_region *region, unsigned c)
{
	pmm_classes_remove_unfiled(index, region);
	pmm_classes_link(index, region, c);
}

/*
 * Grows an unfiled free record (a merge): it stays in its class while its size is at most the
 * class's largest, else it moves up to the class of its new size. The lagging record lags no
 * more once in its class again (grown back to its size before the carve: no class computed) or
 * moved up; grown but still below its class, it lags on. The deferred record stays in no class
 * (its class, PMM_CLASS_NONE, is never the class of a size: tested only on the move's path).
 */
static ALWAYS_INLINE void pmm_classes_grow_unfiled(struct pmm_size_classes *index,
						   struct pmm_region *region, uint64_t first_page,
						   uint64_t pages)
{
	region->first_page = first_page;
	region->pages = pages;
	unsigned c;
	if (unlikely(index->lagging == region)) {
		if (likely(pages == index->lagging_pages)) { /* the pair's free: back in its class */
			index->lagging = NULL;
			return;
		}
		c = pmm_class_of(pages);
		if (c < region->size_class) /* still below its class */
			return;
		index->lagging = NULL;
	} else {
		c = pmm_class_of(pages);
	}
	if (unlikely(c != region->size_class) && region != index->deferred)
		pmm_classes_move_unfiled(index, region, c);
}

/* A free record is about to leave the index for good (a merge drops it): forgets it if it is
 * the lagging or the deferred record. Returns whether it is in a class (false: the deferred one),
 * that is, whether the caller must still remove it. */
static ALWAYS_INLINE bool pmm_classes_forget(struct pmm_size_classes *index,
					     const struct pmm_region *region)
{
	if (unlikely(region == index->deferred)) {
		index->deferred = NULL;
		return false;
	}
	if (unlikely(region == index->lagging))
		index->lagging = NULL;
	return true;
}

/* Gives a filed free record a new extent: it leaves its tree and comes back unfiled, in the class
 * of its new size. */
static inline void pmm_classes_reshape_filed(struct pmm_size_classes *index,
					     struct pmm_region *region, uint64_t first_page,
					     uint64_t pages, uint64_t *work)
{
	pmm_classes_remove(index, region, work);
	region->first_page = first_page;
	region->pages = pages;
	pmm_classes_insert(index, region);
}

/* Before the index is read (every allocation, the fast path and the general ones): links the
 * deferred record, if any, into the class of its size, and moves the lagging record, if any and
 * if it lags, down to the class of its size, and forgets both, so that every free record is in
 * the class of its size. Inline: the alloc fast path runs it (one load, an or and a branch when
 * there is neither). */
static ALWAYS_INLINE void pmm_classes_settle(struct pmm_size_classes *index)
{
	if (likely(!((uintptr_t)index->lagging | (uintptr_t)index->deferred)))
		return;
	/* read again: else GCC keeps both loads for here and copies one before the or (2 more
	 * instructions on every allocation's usual path) */
	__asm__ volatile("" ::: "memory");
	struct pmm_region *region = index->lagging, *deferred = index->deferred;
	if (deferred) {
		index->deferred = NULL;
		pmm_classes_link(index, deferred, pmm_class_of(deferred->pages));
	}
	if (!region)
		return;
	index->lagging = NULL;
	unsigned c = pmm_class_of(region->pages);
	if (c != region->size_class)
		pmm_classes_move_unfiled(index, region, c);
}

/* A record of class c, known to be non-empty: an unfiled one if any, else a filed one. */
static inline struct pmm_region *pmm_classes_any(const struct pmm_size_classes *index, unsigned c)
{
	const struct list_node *list = &index->classes[c].unfiled;
	if (likely(list->next != list))
		return container_of(list->next, struct pmm_region, link.free.class_link);
	if (c >= PMM_EXACT_CLASS_PAGES) /* the exact classes are numbered by their size */
		return index->classes[c].tree;
	list = &index->residue_list[c][__builtin_ctz(index->residues[c])];
	return container_of(list->next, struct pmm_region, link.free.class_link);
}

/* A record of the first non-empty class at or above `from` (at most pmm_class_at_least(2^41 - 1)),
 * or NULL. Two find-first-set. */
static inline struct pmm_region *pmm_classes_any_at_or_above(const struct pmm_size_classes *index,
							     unsigned from)
{
	unsigned row = from / PMM_CLASS_SUBDIVISIONS; /* at most PMM_CLASS_ROWS: the spare row */
	uint32_t subs = index->class_bitmap[row] & (~0u << (from % PMM_CLASS_SUBDIVISIONS));
	if (!subs) {
		uint64_t rows = index->row_bitmap & (~(uint64_t)1 << row);
		if (!rows)
			return NULL;
		row = (unsigned)__builtin_ctzll(rows);
		subs = index->class_bitmap[row];
	}
	return pmm_classes_any(index, row * PMM_CLASS_SUBDIVISIONS + (unsigned)__builtin_ctz(subs));
}

/* An empty index. */
void pmm_classes_init(struct pmm_size_classes *index);

/*
 * The exact search: a record of a class in [lowest, below) holding `pages` pages at a multiple
 * of `align_pages`, or NULL if none can (the proof: pmm_regions.c, PROMISE). Classes are tried
 * highest first; each class is filed first. No record may lag (the caller has settled it).
 */
struct pmm_region *pmm_classes_search(struct pmm_size_classes *index, unsigned lowest,
				      unsigned below, uint64_t pages, uint64_t align_pages,
				      uint64_t *work);

/* The free records indexed (the sum of the class counts, and the deferred record). O(classes). */
uint64_t pmm_classes_records(const struct pmm_size_classes *index);
/* The tallest class tree. */
unsigned pmm_classes_tallest_tree(const struct pmm_size_classes *index);

/*
 * Self-check of the index: bitmaps and counts agree with the lists and trees, every record is
 * where its class, residue and filing say (the lagging one, unfiled, may be in a class above the
 * class of its size; the deferred one, unfiled, is in none), and passes belongs(ctx, record) (the
 * caller's conditions: free, its zone), and each tree is sound (pmm_fit_check). Returns NULL, or
 * a description of the first fault with the record concerned at *where (NULL for a count or
 * bitmap fault); *indexed receives the records found, the deferred one included.
 */
const char *pmm_classes_check(const struct pmm_size_classes *index,
			      bool (*belongs)(void *ctx, const struct pmm_region *region), void *ctx,
			      const struct pmm_region **where, uint64_t *indexed);

#endif
