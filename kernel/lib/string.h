/*
 * Freestanding string functions. The compiler may emit calls to memcpy, memmove, memset and
 * memcmp in freestanding code, so the kernel must define them under those names. The host
 * test build compiles the same file with PAGESCOPE_HOST, which renames them klib_* so they can
 * be tested side by side with libc instead of replacing it.
 */
#ifndef PAGESCOPE_LIB_STRING_H
#define PAGESCOPE_LIB_STRING_H

#include <stddef.h>

#ifdef PAGESCOPE_HOST
#define KLIB(name) klib_##name
#include <string.h>
#else
#define KLIB(name) name
#endif

void *KLIB(memcpy)(void *dst, const void *src, size_t n);
void *KLIB(memmove)(void *dst, const void *src, size_t n);
void *KLIB(memset)(void *dst, int c, size_t n);
int KLIB(memcmp)(const void *a, const void *b, size_t n);
size_t KLIB(strlen)(const char *s);
size_t KLIB(strnlen)(const char *s, size_t max);
int KLIB(strcmp)(const char *a, const char *b);
int KLIB(strncmp)(const char *a, const char *b, size_t n);
char *KLIB(strchr)(const char *s, int c);

#endif
