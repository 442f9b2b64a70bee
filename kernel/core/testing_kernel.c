/* The kernel's side of kernel/lib/testing.h: output goes to the log, each test is a traced phase. */
#include "kernel/lib/testing.h"
#include "log.h"
#include "phase.h"

void testing_output(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

void testing_case_begin(const char *name)
{
	phase_begin(name);
}

void testing_case_end(const char *name)
{
	phase_end(name);
}
