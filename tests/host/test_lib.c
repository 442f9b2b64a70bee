/* Host tests of kernel/lib: the formatter and string functions agree with libc; the intrusive list. */
#include <stdio.h>
#include <string.h>

#include "kernel/lib/format.h"
#include "kernel/lib/list.h"
#include "kernel/lib/string.h"
#include "kernel/lib/testing.h"

/* Formats with both kvsnprintf and libc's vsnprintf and expects identical output and length. */
static void check_format(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void check_format(const char *fmt, ...)
{
	char ours[128], theirs[128];
	va_list a, b;
	va_start(a, fmt);
	va_copy(b, a);
	size_t n_ours = kvsnprintf(ours, sizeof(ours), fmt, a);
	int n_theirs = vsnprintf(theirs, sizeof(theirs), fmt, b);
	va_end(b);
	va_end(a);
	EXPECT_STREQ(ours, theirs);
	EXPECT_EQ(n_ours, n_theirs);
}

TEST(format_matches_libc_for_integers)
{
	check_format("%d %i %u", -42, 0, 4000000000u);
	check_format("%ld %lu %lld", -9223372036854775807L - 1, 18446744073709551615UL, 123LL);
	check_format("%x %X %#x %#o %o", 0xdeadbeef, 0xabc, 255, 8, 0);
	check_format("%08x|%-8d|%8d|%+d|% d", 0x1234, -5, 77, 3, 4);
	check_format("%.3d|%5.2d|%.0d|%-6d", 7, 3, 0, 12);
	check_format("%hhu %hd %zu", 300, 70000, (size_t)99);
	check_format("%016lx %*d %-*d|", 0xffff800000000000UL, 6, 42, 4, 1);
}

TEST(format_matches_libc_for_strings_and_chars)
{
	check_format("[%s] [%10s] [%-10s] [%.2s] [%c] [%3c] %%", "abc", "right", "left", "truncate", 'x', 'y');
	check_format("%p", (void *)0x1000);
}

TEST(format_truncates_and_reports_full_length)
{
	char buf[8];
	size_t n = ksnprintf(buf, sizeof(buf), "%s", "0123456789");
	EXPECT_EQ(n, 10);
	EXPECT_STREQ(buf, "0123456");
	EXPECT_EQ(ksnprintf(NULL, 0, "%d", 12345), 5);
}

TEST(format_prints_unknown_conversions_literally)
{
	char buf[32];
	const char *fmt = "a%qb"; /* not a literal: the compiler would reject it, as it should */
	ksnprintf(buf, sizeof(buf), fmt);
	EXPECT_STREQ(buf, "a%qb");
}

TEST(string_functions_agree_with_libc)
{
	char a[64], b[64];
	for (int i = 0; i < 64; i++)
		a[i] = (char)(i * 7);
	klib_memcpy(b, a, sizeof(a));
	EXPECT_EQ(memcmp(a, b, sizeof(a)), 0);
	klib_memmove(b + 1, b, 40); /* overlapping forward */
	memmove(a + 1, a, 40);
	EXPECT_EQ(memcmp(a, b, sizeof(a)), 0);
	klib_memmove(b, b + 3, 40); /* overlapping backward */
	memmove(a, a + 3, 40);
	EXPECT_EQ(memcmp(a, b, sizeof(a)), 0);
	klib_memset(b, 0x5a, 17);
	memset(a, 0x5a, 17);
	EXPECT_EQ(klib_memcmp(a, b, sizeof(a)), 0);
	EXPECT_TRUE(klib_memcmp("abc", "abd", 3) < 0);
	EXPECT_EQ(klib_strlen("hello"), 5);
	EXPECT_EQ(klib_strnlen("hello", 3), 3);
	EXPECT_TRUE(klib_strcmp("abc", "abd") < 0);
	EXPECT_EQ(klib_strncmp("abcx", "abcy", 3), 0);
	EXPECT_TRUE(klib_strchr("key=value", '=') != NULL);
	EXPECT_TRUE(klib_strchr("key", '=') == NULL);
}

struct list_item {
	int value;
	struct list_node link;
};

/* The intrusive list keeps order through pushes at both ends, removal from the middle and reuse. */
TEST(list_keeps_order_through_pushes_and_removals)
{
	struct list_node list;
	struct list_item items[4] = { { .value = 0 }, { .value = 1 }, { .value = 2 }, { .value = 3 } };
	list_init(&list);
	EXPECT_TRUE(list_is_empty(&list));
	EXPECT_TRUE(list_entry(list_first(&list), struct list_item, link) == NULL);
	list_push_back(&list, &items[1].link);
	list_push_back(&list, &items[2].link);
	list_push_front(&list, &items[0].link);
	list_insert_after(&items[2].link, &items[3].link);
	int expected = 0;
	for (struct list_item *it = list_entry(list_first(&list), struct list_item, link); it;
	     it = list_entry(list_next(&list, &it->link), struct list_item, link))
		EXPECT_EQ(it->value, expected++);
	EXPECT_EQ(expected, 4);
	list_remove(&items[1].link);
	list_remove(&items[1].link); /* a removed node points at itself: harmless */
	EXPECT_TRUE(list_next(&list, &items[0].link) == &items[2].link);
	EXPECT_TRUE(list_prev(&list, &items[2].link) == &items[0].link);
	EXPECT_TRUE(list_prev(&list, &items[0].link) == NULL);
	EXPECT_TRUE(list_last(&list) == &items[3].link);
	struct list_node *node, *tmp;
	unsigned removed = 0;
	list_for_each_safe(node, tmp, &list) {
		list_remove(node);
		removed++;
	}
	EXPECT_EQ(removed, 3);
	EXPECT_TRUE(list_is_empty(&list));
}
