/*
 * The list backend's self-check: every invariant of vmm_list.h, vmm_list_pending.h and
 * vmm_list_hash.h recounted from the records themselves. Each region's address list must tile
 * it; an in-order visit of each tree must meet the records of its state that are neither pending
 * nor top in address-list order, with parent links, heights, balance and (free tree) max_free
 * equal to a recount (the stale record counted at the length the tree counts, longer than its
 * own); rr->lowest must be the free tree's first record and rr->top the region's last record when
 * free; the pending and top marks must be exactly on the pending set's records and the top run;
 * the hashed reservations must be what the hash counts, each reachable through its link; the
 * records listed plus the spare must be what the pool says is in use. */
#include "vmm_list.h"

struct tree_check {
	unsigned bad;
	struct range_record *expect; /* the next record of the tree's state in address order */
	bool want_free;
	const struct region_records *rr; /* the stale record counts as long as the tree counts it */
	uint64_t nodes;
};

static void check_fail(unsigned *bad, const struct range_record *r, const char *what)
{
	mm_log("list self-check: record %llx+%llu: %s\n", (unsigned long long)r->start,
	       (unsigned long long)pages_of(r), what);
	++*bad;
}

/* The next record after r (inclusive) in address order that belongs in the tree: its state, not
 * pending, not top. */
static struct range_record *next_of_state(struct range_record *r, bool want_free)
{
	while (r && (is_free(r) != want_free || is_unfiled(r)))
		r = r->next;
	return r;
}

/* The pending set: the records carrying the mark are exactly those in its slots, each once, and
 * none of them is in a hash chain. */
static void check_pending(unsigned *bad, const struct region_records *rr)
{
	uint64_t marked = 0, marked_free = 0;
	for (struct range_record *r = rr->first; r; r = r->next) {
		if (!is_pending(r))
			continue;
		marked++;
		marked_free += is_free(r);
		unsigned slots = 0;
		for (unsigned i = 0; i < rr->pending_count; i++)
			slots += rr->pending[i] == r;
		if (slots != 1)
			check_fail(bad, r, "pending mark, but not in the pending set exactly once");
		if (r->hash_link)
			check_fail(bad, r, "pending, yet in a hash chain");
	}
	if (rr->pending_count > LIST_PENDING || marked != rr->pending_count || marked_free != rr->pending_free) {
		mm_log("list self-check: %u in the pending set (%u free), %llu records marked pending (%llu free)\n",
		       rr->pending_count, rr->pending_free, (unsigned long long)marked, (unsigned long long)marked_free);
		++*bad;
	}
}

/* Visits the subtree in order against the address list; returns its height, recomputed. */
static unsigned check_subtree(struct tree_check *c, struct avl_node *n, const struct avl_node *parent,
			      uint64_t *longest_free)
{
	*longest_free = 0;
	if (!n)
		return 0;
	struct range_record *r = record_of(n);
	if (n->parent != parent)
		check_fail(&c->bad, r, "parent link");
	uint64_t left_free, right_free;
	unsigned hl = check_subtree(c, n->left, n, &left_free);
	c->nodes++;
	if (r != c->expect)
		check_fail(&c->bad, r, "tree order differs from the address list's, or wrong tree");
	else
		c->expect = next_of_state(r->next, c->want_free);
	unsigned hr = check_subtree(c, n->right, n, &right_free);
	uint64_t counted = r == c->rr->stale ? c->rr->stale_pages : pages_of(r);
	*longest_free = MAX(counted, MAX(left_free, right_free));
	if (c->want_free && r->max_free != *longest_free)
		check_fail(&c->bad, r, "max_free differs from the subtree's longest free record");
	if (n->height != 1 + MAX(hl, hr) || hl > hr + 1 || hr > hl + 1)
		check_fail(&c->bad, r, "height or balance");
	return 1 + MAX(hl, hr);
}

/* Each region is tiled by its address list; both trees hold its records in order, links,
 * heights and maxima equal to a recount. */
unsigned vmm_list_self_check(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	unsigned bad = 0;
	uint64_t records = (ls->spare != NULL) + (ls->cached != NULL), hashed = 0;
	for (unsigned i = 0; i < ctx->region_count; i++) {
		const struct vmm_region *region = &ctx->regions[i];
		struct region_records *rr = &ls->regions[i];
		uint64_t next_start = region->base, listed = 0;
		bool prev_free = false;
		for (struct range_record *r = rr->first, *prev = NULL; r; prev = r, r = r->next) {
			listed++;
			if (!is_free(r) && r->hash_link) {
				hashed++;
				if (*r->hash_link != r)
					check_fail(&bad, r, "hash chain link");
			}
			if (r->prev != prev)
				check_fail(&bad, r, "prev link");
			if (r->start != next_start)
				check_fail(&bad, r, "does not start where the previous record ends");
			if (pages_of(r) == 0 || (is_free(r) && prev_free))
				check_fail(&bad, r, "empty, or free next to a free record");
			next_start = record_end(r);
			prev_free = is_free(r);
		}
		if (next_start != region->base + region->pages * PAGE_SIZE) {
			mm_log("list self-check: region %s not tiled to its end\n", region->name);
			bad++;
		}
		check_pending(&bad, rr);
		struct range_record *last = rr->first;
		while (last && last->next)
			last = last->next;
		if (rr->top != (last && is_free(last) ? last : NULL)) {
			mm_log("list self-check: region %s: the top run is not its last record when free\n", region->name);
			bad++;
		}
		for (struct range_record *r = rr->first; r; r = r->next)
			if (is_top(r) != (r == rr->top) || (is_top(r) && (is_pending(r) || r->hash_link)))
				check_fail(&bad, r, "top mark differs from the region's top run, or top and filed");
		if (rr->stale && (!is_free(rr->stale) || is_pending(rr->stale) || rr->stale_pages <= pages_of(rr->stale)))
			check_fail(&bad, rr->stale, "stale, but not a filed free record shorter than the tree counts");
		struct avl_node *leftmost = rr->free_tree.root;
		while (leftmost && leftmost->left)
			leftmost = leftmost->left;
		if (rr->lowest != record_of(leftmost)) {
			mm_log("list self-check: region %s: lowest is not the free tree's first record\n", region->name);
			bad++;
		}
		uint64_t in_trees = rr->pending_count + (rr->top != NULL);
		for (unsigned t = 0; t < 2; t++) {
			struct tree_check c = { .want_free = t == 0, .rr = rr };
			c.expect = next_of_state(rr->first, c.want_free);
			uint64_t longest;
			check_subtree(&c, (t == 0 ? &rr->free_tree : &rr->reservations)->root, NULL, &longest);
			if (c.expect) {
				check_fail(&c.bad, c.expect, "in the address list but not in its tree");
			}
			bad += c.bad;
			in_trees += c.nodes;
		}
		if (in_trees != listed) {
			mm_log("list self-check: region %s: %llu records listed, %llu in trees or pending\n", region->name,
			       (unsigned long long)listed, (unsigned long long)in_trees);
			bad++;
		}
		records += listed;
	}
	if (hashed != ls->hash.entries) {
		mm_log("list self-check: %llu reservations hashed, %llu counted\n",
		       (unsigned long long)hashed, (unsigned long long)ls->hash.entries);
		bad++;
	}
	if (records != ls->records_in_use) {
		mm_log("list self-check: %llu records listed (and spare and cached), %llu in use\n",
		       (unsigned long long)records, (unsigned long long)ls->records_in_use);
		bad++;
	}
	return bad;
}

