/*
 * printf-style formatting without libc, used by the kernel log and compiled on the host for tests.
 * Supports: %d %i %u %x %X %o %c %s %p %%, flags '-' '0' '+' ' ' '#', width and precision (also
 * '*'), length modifiers hh h l ll z t j. Anything else is printed literally so a bad format string
 * is visible in the log rather than crashing the kernel.
 */
#ifndef PAGESCOPE_LIB_FORMAT_H
#define PAGESCOPE_LIB_FORMAT_H

#include <stdarg.h>
#include <stddef.h>
#include "compiler.h"

/* Receives formatted output one chunk at a time. */
typedef void (*format_sink_fn)(void *sink_ctx, const char *chars, size_t len);

/* Formats into a sink; returns the number of characters produced. */
size_t format_to_sink(format_sink_fn sink, void *sink_ctx, const char *fmt, va_list ap);

/*
 * Formats into buf (always NUL-terminated when size > 0). Returns the length the full output
 * would have had, like C99 snprintf, so truncation is detectable as a return value >= size.
 */
size_t kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
size_t ksnprintf(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4);

#endif
