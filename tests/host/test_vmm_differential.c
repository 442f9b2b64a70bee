/*
 * Differential test of the two bookkeeping backends: the same seeded stream of 1 000 000 mixed
 * operations on two user contexts per backend must give identical results, with audits on the way.
 */
#include <stdlib.h>

#include "kernel/lib/testing.h"
#include "tests/host/vmm_test_support.h"

#define STEPS 1000000
#define AUDIT_EVERY 20000
#define MAX_RESERVATIONS 256
#define CONTEXTS 2

static const struct vmm_region diff_regions[] = {
	{ "heap", 0x400000, 1024, MM_OWNER_USER },
	{ "cross-1g", 0x3FFC0000, 2048, MM_OWNER_USER },
	{ "cross-512g", 0x7FFFE00000, 1ull << 18, MM_OWNER_USER },
};

struct reservation {
	uint64_t addr, pages;
};

struct world {
	struct vmm_context kernel;
	struct vmm_context user[CONTEXTS];
};

struct model {
	struct reservation live[CONTEXTS][MAX_RESERVATIONS];
	unsigned count[CONTEXTS];
};

struct leaf_list {
	uint64_t *entries;
	size_t count, capacity;
};

static void collect_leaf(void *cookie, uint64_t va, const struct pt_translation *leaf)
{
	struct leaf_list *l = cookie;
	if (l->count == l->capacity) {
		l->capacity = l->capacity ? 2 * l->capacity : 1024;
		l->entries = realloc(l->entries, l->capacity * sizeof(uint64_t));
	}
	l->entries[l->count++] = va | leaf->prot | (uint64_t)leaf->size << 8;
}

/*
 * Both worlds' contexts pass the audit and their backend's self-check (derived state equals a
 * recount), and map the same pages with the same flags.
 */
static bool worlds_agree(struct world *w)
{
	bool same = true;
	for (unsigned c = 0; c < CONTEXTS; c++) {
		struct leaf_list lists[2] = { { 0 }, { 0 } };
		for (unsigned k = 0; k < 2; k++) {
			EXPECT_EQ(vmm_audit(&w[k].user[c]), 0);
			EXPECT_EQ(w[k].user[c].backend->self_check(&w[k].user[c]), 0);
			pt_for_each_leaf(&w[k].user[c].pt, PT_HALF_USER, collect_leaf, &lists[k]);
		}
		same &= lists[0].count == lists[1].count &&
			(lists[0].count == 0 ||
			 memcmp(lists[0].entries, lists[1].entries, lists[0].count * sizeof(uint64_t)) == 0);
		free(lists[0].entries);
		free(lists[1].entries);
	}
	return same && !testing_current_failed();
}

static uint64_t pick_pages(uint64_t *rng)
{
	uint64_t r = test_random(rng) % 100;
	if (r < 80)
		return 1 + test_random(rng) % 8;
	if (r < 97)
		return 1 + test_random(rng) % 600;
	return 1 + test_random(rng) % (1ull << 17);
}

/* One random operation applied to both worlds; false when their answers differ. */
static bool step(struct world *w, struct model *m, uint64_t *rng)
{
	unsigned c = (unsigned)(test_random(rng) % CONTEXTS);
	unsigned op = (unsigned)(test_random(rng) % 100);
	struct reservation *live = m->live[c];
	unsigned *count = &m->count[c];
	struct reservation *target = *count ? &live[test_random(rng) % *count] : NULL;
	uint64_t results[2][2] = { { 0 } };
	uint64_t choices = *rng;
	for (unsigned k = 0; k < 2; k++) {
		struct vmm_context *ctx = &w[k].user[c];
		uint64_t *res = results[k];
		uint64_t replay = choices; /* both worlds draw the same random choices */
		uint64_t *r = &replay;
		if (op < 30 && *count < MAX_RESERVATIONS) {
			unsigned region = (unsigned)(test_random(r) % 3);
			/* Alignments up to 1 GiB: past the smaller regions, so padded searches fail too. */
			uint64_t pages = pick_pages(r), align = 1ull << (test_random(r) % 19);
			res[0] = vmm_reserve(ctx, region, pages, align, &res[1]);
			if (k == 1 && res[0] == VM_OK)
				live[(*count)++] = (struct reservation){ res[1], pages };
		} else if (op < 55 && target) {
			uint64_t variant = test_random(r) % 10, addr = target->addr, pages = target->pages;
			if (variant == 0)
				pages += 1;
			else if (variant == 1 && pages > 1)
				addr += PAGE_SIZE;
			res[0] = vmm_release(ctx, addr, pages);
			if (k == 1 && res[0] == VM_OK)
				*target = live[--(*count)];
		} else if (op < 72 && target) {
			uint64_t first = test_random(r) % target->pages;
			uint64_t pages = 1 + test_random(r) % MIN(8, target->pages - first);
			unsigned prot = PT_READ | PT_USER | (test_random(r) % 2 ? PT_WRITE : 0) |
					(test_random(r) % 7 == 0 ? PT_EXECUTE : 0);
			res[0] = vmm_map_anonymous(ctx, target->addr + first * PAGE_SIZE, pages, prot);
		} else if (op < 82 && target) {
			uint64_t first = test_random(r) % target->pages;
			res[0] = vmm_unmap(ctx, target->addr + first * PAGE_SIZE,
					   1 + test_random(r) % (target->pages - first));
		} else if (op < 86) {
			uint64_t brk = diff_regions[0].base + test_random(r) % (64 * PAGE_SIZE);
			res[0] = vmm_brk(ctx, brk, &res[1]);
		} else if (op < 90 && target) {
			unsigned prot = PT_READ | PT_USER | (test_random(r) % 2 ? PT_EXECUTE : 0);
			res[0] = vmm_protect(ctx, target->addr, MIN(target->pages, 4), prot);
		} else {
			const struct vmm_region *region = &diff_regions[test_random(r) % 3];
			uint64_t addr = region->base + (test_random(r) % region->pages) * PAGE_SIZE;
			if (target && test_random(r) % 2)
				addr = target->addr + target->pages * PAGE_SIZE;
			struct vmm_query_result q;
			vmm_query(ctx, addr, &q);
			res[0] = q.state | (uint64_t)q.region << 8;
			res[1] = q.start ^ (q.pages << 1);
		}
		*rng = replay;
	}
	return results[0][0] == results[1][0] && results[0][1] == results[1][1];
}

/* 1M mixed reserve/release/map/unmap/brk/protect/query operations agree between the backends. */
TEST(vmm_differential_backends_agree_on_a_million_operations)
{
	uint64_t seed = test_seed(0x5EED0F3A6Eull), rng = seed;
	struct test_source ts;
	test_source_init(&ts, 1 << 20);
	static struct world worlds[2];
	static struct model model;
	model = (struct model){ 0 };
	static const enum vmm_backend_kind kinds[2] = { VMM_BACKEND_PAGETABLE, VMM_BACKEND_LIST };
	for (unsigned k = 0; k < 2; k++) {
		ASSERT_EQ(test_kernel_context(&worlds[k].kernel, &ts, kinds[k]), VM_OK);
		for (unsigned c = 0; c < CONTEXTS; c++)
			ASSERT_EQ(test_user_context(&worlds[k].user[c], &worlds[k].kernel, &ts, kinds[k],
						    diff_regions, ARRAY_SIZE(diff_regions)), VM_OK);
	}
	for (unsigned i = 1; i <= STEPS; i++) {
		if (!step(worlds, &model, &rng)) {
			testing_fail(__FILE__, __LINE__, "backends disagree at step %u", i);
			break;
		}
		if (i % AUDIT_EVERY == 0 && !worlds_agree(worlds)) {
			testing_fail(__FILE__, __LINE__, "page tables disagree by step %u", i);
			break;
		}
	}
	EXPECT_TRUE(worlds_agree(worlds));
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned c = 0; c < CONTEXTS; c++)
			vmm_context_destroy(&worlds[k].user[c]);
		vmm_context_destroy(&worlds[k].kernel);
	}
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
	if (testing_current_failed())
		testing_note("seed %llu (set VMM_SEED to reproduce)", (unsigned long long)seed);
}
