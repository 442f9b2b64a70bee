/* The test runner behind TEST(): walks the pstests section; see testing.h. */
#include "testing.h"
#include "format.h"
#include "string.h"

extern const struct test_case __start_pstests[];
extern const struct test_case __stop_pstests[];

static struct {
	const struct test_case *current;
	const char *prefix;
	unsigned failures_in_current;
} runner;

bool testing_streq(const char *a, const char *b)
{
	return a && b && KLIB(strcmp)(a, b) == 0;
}

bool testing_current_failed(void)
{
	return runner.failures_in_current != 0;
}

void testing_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	runner.failures_in_current++;
	/* Cap the noise from a check failing inside a loop of a million iterations. */
	if (runner.failures_in_current <= 10)
		testing_output("%s  %s:%d: %s\n", runner.prefix, file, line, msg);
	else if (runner.failures_in_current == 11)
		testing_output("%s  (further failures in this test not shown)\n", runner.prefix);
}

void testing_note(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	testing_output("%s  note: %s\n", runner.prefix, msg);
}

static bool matches(const char *name, const char *filter)
{
	return !filter || !*filter || KLIB(strncmp)(name, filter, KLIB(strlen)(filter)) == 0;
}

unsigned testing_count(const char *filter)
{
	unsigned n = 0;
	for (const struct test_case *t = __start_pstests; t < __stop_pstests; t++)
		n += matches(t->name, filter);
	return n;
}

void testing_list(const char *prefix)
{
	for (const struct test_case *t = __start_pstests; t < __stop_pstests; t++)
		testing_output("%s%s\n", prefix, t->name);
}

int testing_run_all(const char *prefix, const char *filter)
{
	unsigned passed = 0, failed = 0;
	runner.prefix = prefix;
	for (const struct test_case *t = __start_pstests; t < __stop_pstests; t++) {
		if (!matches(t->name, filter))
			continue;
		runner.current = t;
		runner.failures_in_current = 0;
		testing_case_begin(t->name);
		t->run();
		testing_case_end(t->name);
		if (runner.failures_in_current) {
			failed++;
			testing_output("%sFAIL %s\n", prefix, t->name);
		} else {
			passed++;
			testing_output("%sPASS %s\n", prefix, t->name);
		}
	}
	runner.current = NULL;
	testing_output("%s%u passed, %u failed\n", prefix, passed, failed);
	return (int)failed;
}
