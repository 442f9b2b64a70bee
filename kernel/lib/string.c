/* Freestanding string functions: byte loops kept simple; rep-movs/stos are used where size matters. */
#include "string.h"
#include <stdint.h>

void *KLIB(memcpy)(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
#if defined(__x86_64__) && !defined(PAGESCOPE_HOST)
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
#else
	while (n--)
		*d++ = *s++;
#endif
	return dst;
}

void *KLIB(memmove)(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	if (d == s || n == 0)
		return dst;
	if (d < s || d >= s + n)
		return KLIB(memcpy)(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

void *KLIB(memset)(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
#if defined(__x86_64__) && !defined(PAGESCOPE_HOST)
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
#else
	while (n--)
		*d++ = (unsigned char)c;
#endif
	return dst;
}

int KLIB(memcmp)(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

size_t KLIB(strlen)(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

size_t KLIB(strnlen)(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

int KLIB(strcmp)(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int KLIB(strncmp)(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *KLIB(strchr)(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}
