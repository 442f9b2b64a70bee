/* The kernel's side of kernel/lib/testing.h: test output goes to the log. */
#include "kernel/lib/testing.h"
#include "log.h"

void testing_output(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}
