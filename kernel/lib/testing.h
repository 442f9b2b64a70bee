/*
 * One small test framework for both worlds: host tests (tests/host, arch-free code built natively
 * under ASan+UBSan) and in-kernel tests (tests/kernel, run when the kernel boots with `test`).
 *
 *   TEST(pmm_frees_coalesce) { ... EXPECT_EQ(a, b); ASSERT_TRUE(p != NULL); ... }
 *
 * TEST registers a descriptor in the `pstests` linker section; the runner walks that section, so
 * adding a test needs no list to keep in sync. EXPECT_* records a failure and continues; ASSERT_*
 * records it and returns from the test. The runner prints one line per test and closes with
 * "<prefix>N passed, N failed".
 */
#ifndef PAGESCOPE_LIB_TESTING_H
#define PAGESCOPE_LIB_TESTING_H

#include "compiler.h"

struct test_case {
	const char *name;
	const char *file;
	void (*run)(void);
};

#define TEST(name)                                                                         \
	static void test_body_##name(void);                                                \
	static const struct test_case test_case_##name                                     \
		__attribute__((used, section("pstests"), aligned(8))) = { #name, __FILE__,     \
									  test_body_##name }; \
	static void test_body_##name(void)

/* Records a failed check; the message is printed under the current test's line. */
void testing_fail(const char *file, int line, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* Prints diagnostic context for the current test (e.g. a seed to reproduce a random failure). */
void testing_note(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* True when the running test has recorded at least one failure. */
bool testing_current_failed(void);

#define TESTING_CHECK(cond, on_fail, ...)                                  \
	do {                                                               \
		if (unlikely(!(cond))) {                                   \
			testing_fail(__FILE__, __LINE__, __VA_ARGS__);     \
			on_fail;                                           \
		}                                                          \
	} while (0)

#define TESTING_CMP(a, op, b, on_fail)                                                              \
	do {                                                                                        \
		unsigned long long test_a_ = (unsigned long long)(a), test_b_ = (unsigned long long)(b); \
		TESTING_CHECK(test_a_ op test_b_, on_fail, "%s %s %s (0x%llx vs 0x%llx)", #a, #op, #b, \
			      test_a_, test_b_);                                                    \
	} while (0)

#define EXPECT_TRUE(c) TESTING_CHECK(c, (void)0, "expected %s", #c)
#define ASSERT_TRUE(c) TESTING_CHECK(c, return, "expected %s", #c)
#define EXPECT_FALSE(c) TESTING_CHECK(!(c), (void)0, "expected !(%s)", #c)
#define ASSERT_FALSE(c) TESTING_CHECK(!(c), return, "expected !(%s)", #c)
#define EXPECT_EQ(a, b) TESTING_CMP(a, ==, b, (void)0)
#define ASSERT_EQ(a, b) TESTING_CMP(a, ==, b, return)
#define EXPECT_NE(a, b) TESTING_CMP(a, !=, b, (void)0)
#define ASSERT_NE(a, b) TESTING_CMP(a, !=, b, return)
#define EXPECT_LE(a, b) TESTING_CMP(a, <=, b, (void)0)
#define EXPECT_LT(a, b) TESTING_CMP(a, <, b, (void)0)
#define EXPECT_GE(a, b) TESTING_CMP(a, >=, b, (void)0)
#define EXPECT_STREQ(a, b)                                                                  \
	TESTING_CHECK(testing_streq((a), (b)), (void)0, "%s == %s (\"%s\" vs \"%s\")", #a, #b, \
		      (a), (b))

bool testing_streq(const char *a, const char *b);

/*
 * How the runner reaches the outside world: each build provides these. testing_case_begin/end
 * bracket every test (the kernel makes each test a traced phase; the host does nothing).
 */
void testing_output(const char *fmt, ...) PRINTF_LIKE(1, 2);
void testing_case_begin(const char *name);
void testing_case_end(const char *name);

/*
 * Runs every registered test whose name starts with `filter` (NULL or "" for all), printing
 * "<prefix>PASS name" / "<prefix>FAIL name" lines and the closing summary line. Returns the
 * number of failed tests.
 */
int testing_run_all(const char *prefix, const char *filter);
/* How many registered tests testing_run_all would run with `filter`. */
unsigned testing_count(const char *filter);
/* Prints the name of every registered test, one per line after `prefix`. */
void testing_list(const char *prefix);

#endif
