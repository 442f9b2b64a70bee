/*
 * The bound each bookkeeping backend states in its header, held on the layouts that are hardest
 * for it (tests/host/vmm_patterns.c): every reserve, reserve_at and release of every pattern does
 * at most the backend work its work_bound() states, and every request lands where lowest-address
 * first fit says, on both backends.
 */
#include "kernel/lib/testing.h"
#include "tests/host/vmm_patterns.h"
#include "tests/host/vmm_test_support.h"

#define PACKED_PAGES 4096 /* mapped before each layout */
#define SCALE 64          /* leaves, chunks, or holes of each layout */

static void pattern_body(const struct vmm_pattern *pattern, enum vmm_backend_kind backend)
{
	struct test_source ts;
	struct vmm_context kernel, user;
	test_source_init(&ts, 1 << 14);
	ASSERT_EQ(test_kernel_context(&kernel, &ts, backend), VM_OK);
	ASSERT_EQ(test_user_context(&user, &kernel, &ts, backend, &vmm_pattern_region, 1), VM_OK);
	struct vmm_pattern_stats stats;
	pattern->run(&user, PACKED_PAGES, SCALE, &stats);
	EXPECT_TRUE(stats.ops > 0);
	EXPECT_EQ(stats.over_bound, 0);
	EXPECT_EQ(stats.wrong_answers, 0);
	EXPECT_TRUE(stats.mapped_pages >= PACKED_PAGES);
	EXPECT_EQ(user.backend->self_check(&user), 0);
	testing_note("%s %s: %llu ops, worst work %llu (bound %llu)", pattern->name,
		     vmm_backend_kind_name(backend), (unsigned long long)stats.ops,
		     (unsigned long long)stats.worst_work, (unsigned long long)stats.worst_bound);
	vmm_context_destroy(&user);
	vmm_context_destroy(&kernel);
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
}

/* Near-fit runs at every level, one-page holes, far-end holes, a size sweep, aligned requests. */
TEST(vmm_bounds_hold_on_every_adversarial_pattern_for_both_backends)
{
	for (unsigned p = 0; p < vmm_pattern_count && !testing_current_failed(); p++) {
		pattern_body(&vmm_patterns[p], VMM_BACKEND_PAGETABLE);
		pattern_body(&vmm_patterns[p], VMM_BACKEND_LIST);
	}
}
