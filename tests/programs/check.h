/*
 * What every test program of tests/programs/ shares: output through write() only (a line is on
 * its file descriptor before the next system call, so a program killed halfway has printed exactly
 * the lines before the fault, on the host and under pagescope alike: stdio buffers would lose them)
 * and checks that print one line each.
 *
 * A transcript must be the same on the host and in pagescope, so no line holds an address, a
 * process id, a time or a random byte: checks print what they found about them ("ok"), and a
 * check that fails says FAILED with the values, so the difference shows in the test's diff.
 * A program exits 0 when every check passed, 1 otherwise (finish()).
 */
#ifndef PROGRAMS_CHECK_H
#define PROGRAMS_CHECK_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096ul

static int checks_failed __attribute__((unused));

static inline void say_on(int fd, const char *format, ...) __attribute__((format(printf, 2, 3)));
static inline void say_on(int fd, const char *format, ...)
{
	char line[1024];
	va_list args;
	va_start(args, format);
	int length = vsnprintf(line, sizeof line, format, args);
	va_end(args);
	if (length < 0)
		return;
	if ((size_t)length >= sizeof line)
		length = sizeof line - 1;
	for (int done = 0; done < length;) {
		ssize_t n = write(fd, line + done, (size_t)(length - done));
		if (n <= 0)
			return;
		done += (int)n;
	}
}
#define say(...) say_on(1, __VA_ARGS__)

/* check(condition, "what was checked") prints "what was checked: ok" or "...: FAILED". */
#define check(condition, what) check_line((condition), (what), __LINE__)
static inline void check_line(int passed, const char *what, int line)
{
	if (passed) {
		say("%s: ok\n", what);
	} else {
		checks_failed++;
		say("%s: FAILED (line %d, errno %d)\n", what, line, errno);
	}
}

/* A raw system call's result the way the kernel returned it: -errno on failure. */
static inline long raw_result(long libc_result)
{
	return libc_result == -1 ? -errno : libc_result;
}

static inline int all_bytes_are(const volatile unsigned char *p, size_t n, unsigned char value)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != value)
			return 0;
	return 1;
}

static inline int finish(void)
{
	say("%s\n", checks_failed ? "some checks FAILED" : "all checks passed");
	return checks_failed ? 1 : 0;
}

#endif
