/*
 * The vmem-design peer of the VMM benchmark (benchmarks/peers/vmem.c) against a page-bitmap
 * model: seeded random reserves (1..5000 pages, some aligned up to 512) and releases over a span
 * whose base is not aligned, checking after every step that a reservation is aligned, inside the
 * span and over free pages only, that a failure happens only when no free run of the model holds
 * an aligned fit (vmem's search is complete), and periodically that the peer's free segments are
 * exactly the model's maximal free runs and its own structure recounts clean.
 */
#include <stdlib.h>

#include "benchmarks/peers/vmem.h"
#include "kernel/lib/compiler.h"
#include "kernel/lib/testing.h"

#define PAGE 4096ull
#define SPAN_BASE (0x10000000ull + 7 * PAGE)
#define SPAN_PAGES 300000ull
#define STEPS 40000
#define CHECK_EVERY 500
#define MAX_LIVE 4096

static struct model {
	uint8_t used[SPAN_PAGES];
	uint64_t live_addr[MAX_LIVE], live_pages[MAX_LIVE];
	unsigned live;
	uint64_t rng;
} *m;

static uint64_t random_below(uint64_t n)
{
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return (m->rng * 0x2545F4914F6CDD1Dull) % n;
}

static uint64_t page_of(uint64_t addr) { return (addr - SPAN_BASE) / PAGE; }

/* True when some maximal free run of the model holds `pages` at `align` pages. */
static bool model_fits(uint64_t pages, uint64_t align)
{
	for (uint64_t p = 0; p < SPAN_PAGES;) {
		if (m->used[p]) {
			p++;
			continue;
		}
		uint64_t start = p;
		while (p < SPAN_PAGES && !m->used[p])
			p++;
		uint64_t a = ALIGN_UP(SPAN_BASE + start * PAGE, align * PAGE);
		if (a + pages * PAGE <= SPAN_BASE + p * PAGE)
			return true;
	}
	return false;
}

struct run_compare {
	uint64_t next_page; /* where the model's next free run is searched from */
	unsigned differ;
};

static void compare_run(void *cookie, uint64_t addr, uint64_t pages)
{
	struct run_compare *c = cookie;
	uint64_t p = c->next_page;
	while (p < SPAN_PAGES && m->used[p])
		p++;
	uint64_t start = p;
	while (p < SPAN_PAGES && !m->used[p])
		p++;
	c->differ += addr != SPAN_BASE + start * PAGE || pages != p - start;
	c->next_page = p;
}

static unsigned compare_free_runs(const struct vmem_peer *v)
{
	struct run_compare c = { 0, 0 };
	vmem_peer_for_each_free(v, compare_run, &c);
	for (uint64_t p = c.next_page; p < SPAN_PAGES; p++)
		c.differ += !m->used[p]; /* a free page the peer did not report */
	return c.differ;
}

TEST(vmem_peer_matches_a_page_model_over_random_reserves_and_releases)
{
	m = calloc(1, sizeof(*m));
	ASSERT_TRUE(m != NULL);
	m->rng = 0x7e3d;
	struct vmem_peer v;
	ASSERT_TRUE(vmem_peer_init(&v, SPAN_BASE, SPAN_PAGES));
	unsigned placed = 0, failed = 0, released = 0;
	for (unsigned step = 0; step < STEPS && !testing_current_failed(); step++) {
		bool reserve = m->live == 0 || (m->live < MAX_LIVE && random_below(100) < 55);
		if (reserve) {
			uint64_t r = random_below(100);
			uint64_t pages = r < 60 ? 1 + random_below(16) : r < 90 ? 1 + random_below(300) :
						  1 + random_below(5000);
			uint64_t align = random_below(4) == 0 ? (uint64_t)1 << random_below(10) : 1;
			uint64_t addr = vmem_peer_reserve(&v, pages, align);
			if (addr == VMEM_PEER_FAILED) {
				failed++;
				EXPECT_FALSE(model_fits(pages, align));
				continue;
			}
			ASSERT_TRUE(addr % (align * PAGE) == 0 && addr >= SPAN_BASE &&
				    addr + pages * PAGE <= SPAN_BASE + SPAN_PAGES * PAGE);
			for (uint64_t p = page_of(addr); p < page_of(addr) + pages; p++) {
				ASSERT_FALSE(m->used[p]);
				m->used[p] = 1;
			}
			m->live_addr[m->live] = addr;
			m->live_pages[m->live++] = pages;
			placed++;
		} else {
			unsigned i = (unsigned)random_below(m->live);
			uint64_t addr = m->live_addr[i], pages = m->live_pages[i];
			m->live--;
			m->live_addr[i] = m->live_addr[m->live];
			m->live_pages[i] = m->live_pages[m->live];
			ASSERT_TRUE(vmem_peer_release(&v, addr));
			EXPECT_FALSE(vmem_peer_release(&v, addr)); /* twice: refused */
			for (uint64_t p = page_of(addr); p < page_of(addr) + pages; p++)
				m->used[p] = 0;
			released++;
		}
		if (step % CHECK_EVERY == 0) {
			EXPECT_EQ(vmem_peer_check(&v), 0);
			EXPECT_EQ(compare_free_runs(&v), 0);
		}
	}
	EXPECT_EQ(vmem_peer_check(&v), 0);
	EXPECT_EQ(compare_free_runs(&v), 0);
	EXPECT_TRUE(placed > 10000 && released > 10000 && failed > 0); /* every path ran */
	if (testing_current_failed())
		testing_note("placed %u, failed %u, released %u", placed, failed, released);
	while (m->live > 0) {
		m->live--;
		EXPECT_TRUE(vmem_peer_release(&v, m->live_addr[m->live]));
	}
	EXPECT_EQ(vmem_peer_check(&v), 0);
	EXPECT_EQ(v.segments_in_use, 1); /* everything merged back into one free segment */
	vmem_peer_destroy(&v);
	free(m);
}

TEST(vmem_peer_instant_fit_takes_a_segment_that_is_sure_to_fit)
{
	/* Free segments of 20 pages (list 4) and 40 pages (list 5): 17 pages skips list 4 whole. */
	struct vmem_peer v;
	ASSERT_TRUE(vmem_peer_init(&v, SPAN_BASE, 100));
	uint64_t a = vmem_peer_reserve(&v, 20, 1), sep1 = vmem_peer_reserve(&v, 1, 1);
	uint64_t b = vmem_peer_reserve(&v, 40, 1), sep2 = vmem_peer_reserve(&v, 39, 1);
	ASSERT_TRUE(a != VMEM_PEER_FAILED && sep1 != VMEM_PEER_FAILED && b != VMEM_PEER_FAILED &&
		    sep2 != VMEM_PEER_FAILED);
	ASSERT_TRUE(vmem_peer_release(&v, a));
	ASSERT_TRUE(vmem_peer_release(&v, b));
	EXPECT_EQ(vmem_peer_reserve(&v, 17, 1), b);
	EXPECT_EQ(vmem_peer_reserve(&v, 24, 1), VMEM_PEER_FAILED); /* free: 20 and 23 pages */
	EXPECT_EQ(vmem_peer_reserve(&v, 23, 1), b + 17 * PAGE); /* list 4 searched: only 23 holds it */
	EXPECT_EQ(vmem_peer_check(&v), 0);
	vmem_peer_destroy(&v);
}
