/*
 * Host test runner: every TEST() linked into this binary (tests/host/test_*.c) runs here, built
 * natively with ASan+UBSan. Usage: host-tests [name-prefix]
 */
#include <stdarg.h>
#include <stdio.h>

#include "kernel/lib/testing.h"

void testing_output(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

void testing_case_begin(const char *name)
{
	(void)name;
}

void testing_case_end(const char *name)
{
	(void)name;
}

int main(int argc, char **argv)
{
	if (argc > 2) {
		fprintf(stderr, "usage: %s [test-name-prefix]\n", argv[0]);
		return 2;
	}
	const char *filter = argc == 2 ? argv[1] : NULL;
	if (!testing_count(filter)) { /* zero tests run must not look like a pass */
		fprintf(stderr, "%s: no test name starts with '%s'; the tests are:\n", argv[0], filter);
		testing_list("  ");
		return 1;
	}
	return testing_run_all("", filter) ? 1 : 0;
}
