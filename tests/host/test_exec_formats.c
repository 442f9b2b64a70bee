/*
 * Host tests of kernel/exec: the newc cpio reader, the static ELF checker and the initial stack
 * builder, against bytes built here by hand from the formats' definitions (not by the code under
 * test), good and bad.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/exec/cpio_newc.h"
#include "kernel/exec/elf64.h"
#include "kernel/exec/initial_stack.h"
#include "kernel/lib/testing.h"

/* --- cpio ------------------------------------------------------------------------------------- */

static size_t cpio_add(uint8_t *out, size_t at, const char *name, const void *data, size_t size)
{
	char header[256];
	size_t namesize = strlen(name) + 1;
	snprintf(header, sizeof(header), "070701%08x%08x%08x%08x%08x%08x%08zx%08x%08x%08x%08x%08zx%08x",
		 1u, 0100644u, 0u, 0u, 1u, 0u, size, 0u, 0u, 0u, 0u, namesize, 0u);
	memcpy(out + at, header, 110);
	at += 110;
	memcpy(out + at, name, namesize);
	at += namesize;
	while (at % 4)
		out[at++] = 0;
	memcpy(out + at, data, size);
	at += size;
	while (at % 4)
		out[at++] = 0;
	return at;
}

static size_t sample_archive(uint8_t *buf)
{
	size_t n = cpio_add(buf, 0, "./hello", "ELF?", 4);
	n = cpio_add(buf, n, ".argv", "/hello\0x\0", 9);
	n = cpio_add(buf, n, "data.txt", "abcdefg", 7);
	return cpio_add(buf, n, "TRAILER!!!", "", 0);
}

TEST(cpio_reads_entries_by_name_and_order)
{
	static uint8_t buf[4096];
	size_t size = sample_archive(buf);
	struct cpio_archive a;
	uint64_t bad;
	ASSERT_TRUE(cpio_check(buf, size, &a, &bad) == NULL);
	EXPECT_EQ(a.entries, 3);
	struct cpio_entry e;
	ASSERT_TRUE(cpio_find(&a, "/hello", &e));
	EXPECT_EQ(e.size, 4);
	EXPECT_EQ(memcmp(e.data, "ELF?", 4), 0);
	ASSERT_TRUE(cpio_find(&a, "data.txt", &e));
	EXPECT_EQ(memcmp(e.data, "abcdefg", 7), 0);
	cpio_entry_at(&a, 1, &e);
	EXPECT_STREQ(e.name, ".argv");
	e.size = 12345;
	EXPECT_FALSE(cpio_find(&a, "missing", &e));
	EXPECT_EQ(e.size, 12345); /* untouched */
}

TEST(cpio_refuses_truncated_and_malformed_archives_with_the_offset)
{
	static uint8_t buf[4096];
	size_t size = sample_archive(buf);
	struct cpio_archive a;
	uint64_t bad;
	/* Every truncation is refused (the trailer is missing or cut). */
	for (size_t cut = 0; cut < size - 4; cut++)
		EXPECT_TRUE(cpio_check(buf, cut, &a, &bad) != NULL);
	buf[0] = 'X';
	EXPECT_TRUE(cpio_check(buf, size, &a, &bad) != NULL);
	EXPECT_EQ(bad, 0);
	buf[0] = '0';
	/* A file size beyond the end, in the second header. */
	size_t second = 112 + 8 + 4;
	memcpy(buf + second + 6 + 6 * 8, "7FFFFFFF", 8);
	EXPECT_TRUE(cpio_check(buf, size, &a, &bad) != NULL);
	EXPECT_EQ(bad, second);
}

/* --- ELF -------------------------------------------------------------------------------------- */

static void put(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A minimal static executable: text RX at 0x401000 (file 0x1000), data RW at 0x402000 + bss. */
static size_t sample_elf(uint8_t *f, unsigned type)
{
	memset(f, 0, 0x3000);
	memcpy(f, "\177ELF", 4);
	f[4] = 2; /* 64-bit */
	f[5] = 1; /* little-endian */
	f[6] = 1;
	put(f + 16, type, 2);
	put(f + 18, 62, 2); /* x86-64 */
	put(f + 24, 0x401010, 8);
	put(f + 32, 64, 8); /* phoff */
	put(f + 54, 56, 2);
	put(f + 56, 2, 2);
	uint8_t *ph = f + 64;
	put(ph, 1, 4);
	put(ph + 4, 5, 4); /* R X */
	put(ph + 8, 0, 8);
	put(ph + 16, 0x400000, 8);
	put(ph + 32, 0x1100, 8);
	put(ph + 40, 0x1100, 8);
	ph += 56;
	put(ph, 1, 4);
	put(ph + 4, 6, 4); /* R W */
	put(ph + 8, 0x2000, 8);
	put(ph + 16, 0x402000, 8);
	put(ph + 32, 0x100, 8);
	put(ph + 40, 0x5000, 8);
	return 0x3000;
}

TEST(elf_check_describes_a_static_executable)
{
	static uint8_t f[0x3000];
	size_t size = sample_elf(f, 2);
	struct elf_image img;
	const char *why = elf_check(f, size, 0x800000000000ull, 0x555555554000ull, &img);
	ASSERT_TRUE(why == NULL);
	EXPECT_EQ(img.entry, 0x401010);
	EXPECT_EQ(img.segment_count, 2);
	EXPECT_EQ(img.lowest, 0x400000);
	EXPECT_EQ(img.highest, 0x407000);
	EXPECT_EQ(img.phdr_vaddr, 0x400040);
	EXPECT_EQ(img.segments[1].filesz, 0x100);
	/* static-PIE: the same file as ET_DYN is placed at the load base. */
	sample_elf(f, 3);
	ASSERT_TRUE(elf_check(f, size, 0x800000000000ull, 0x555555554000ull, &img) == NULL);
	EXPECT_EQ(img.entry, 0x555555554000ull + 0x401010);
}

TEST(elf_check_refuses_each_bad_executable_with_a_reason)
{
	static uint8_t f[0x3000];
	struct elf_image img;
	uint64_t top = 0x800000000000ull;
	size_t size = sample_elf(f, 2);
	EXPECT_TRUE(elf_check(f, 40, top, 0, &img) != NULL);           /* truncated header */
	EXPECT_TRUE(elf_check(f, 64 + 56, top, 0, &img) != NULL);      /* truncated program headers */
	f[18] = 3;                                                     /* EM_386 */
	EXPECT_TRUE(elf_check(f, size, top, 0, &img) != NULL);
	sample_elf(f, 1);                                              /* ET_REL */
	EXPECT_TRUE(elf_check(f, size, top, 0, &img) != NULL);
	sample_elf(f, 2);
	put(f + 64 + 56 + 4, 7, 4);                                    /* RWX data */
	EXPECT_TRUE(elf_check(f, size, top, 0, &img) != NULL);
	sample_elf(f, 2);
	put(f + 64 + 56, 3, 4);                                        /* PT_INTERP */
	const char *why = elf_check(f, size, top, 0, &img);
	ASSERT_TRUE(why != NULL);
	EXPECT_TRUE(strstr(why, "dynamic") != NULL);
	sample_elf(f, 2);
	put(f + 64 + 56 + 32, 0x2000, 8);                              /* file bytes past the end */
	EXPECT_TRUE(elf_check(f, size, top, 0, &img) != NULL);
	sample_elf(f, 2);
	put(f + 24, 0x402010, 8);                                      /* entry in the data segment */
	EXPECT_TRUE(elf_check(f, size, top, 0, &img) != NULL);
	sample_elf(f, 2);
	put(f + 64 + 56 + 16, 0x7FFFFFFFF000ull, 8);                   /* beyond the user half */
	put(f + 64 + 56 + 8, 0x2000, 8);
	EXPECT_TRUE(elf_check(f, size, top, 0, &img) != NULL);
}

/* --- initial stack ----------------------------------------------------------------------------- */

TEST(initial_stack_is_laid_out_as_the_abi_says)
{
	static uint8_t buf[8192];
	const char *argv[] = { "/prog", "one" };
	const char *envp[] = { "A=1" };
	uint8_t random[16];
	for (unsigned i = 0; i < 16; i++)
		random[i] = (uint8_t)(0xA0 + i);
	struct auxv_entry aux[] = { { AT_PAGESZ, 4096 }, { AT_ENTRY, 0x401010 } };
	struct initial_stack_input in = { argv, 2, envp, 1, random, "/prog", aux, 2 };
	uint64_t top = 0x7FFFFFFFF000ull, used = 0;
	uint64_t rsp = initial_stack_build(&in, top, buf, sizeof(buf), &used);
	ASSERT_TRUE(rsp != 0);
	EXPECT_EQ(rsp % 16, 0);
	EXPECT_EQ(rsp, top - used);
	/* Reads a word of the image at user address a. */
#define WORD(a) (*(uint64_t *)(buf + sizeof(buf) - (top - (a))))
#define STR(a) ((const char *)(buf + sizeof(buf) - (top - (a))))
	EXPECT_EQ(WORD(rsp), 2);                       /* argc */
	EXPECT_STREQ(STR(WORD(rsp + 8)), "/prog");
	EXPECT_STREQ(STR(WORD(rsp + 16)), "one");
	EXPECT_EQ(WORD(rsp + 24), 0);
	EXPECT_STREQ(STR(WORD(rsp + 32)), "A=1");
	EXPECT_EQ(WORD(rsp + 40), 0);
	uint64_t a = rsp + 48, seen_random = 0, seen_pagesz = 0, seen_execfn = 0;
	for (unsigned i = 0; i < 16 && WORD(a) != AT_NULL; i++, a += 16) {
		if (WORD(a) == AT_RANDOM)
			seen_random = WORD(a + 8);
		if (WORD(a) == AT_PAGESZ)
			seen_pagesz = WORD(a + 8);
		if (WORD(a) == AT_EXECFN)
			seen_execfn = WORD(a + 8);
	}
	EXPECT_EQ(WORD(a), AT_NULL);
	EXPECT_EQ(seen_pagesz, 4096);
	ASSERT_TRUE(seen_random != 0 && seen_execfn != 0);
	EXPECT_EQ(memcmp(STR(seen_random), random, 16), 0);
	EXPECT_STREQ(STR(seen_execfn), "/prog");
	/* Too small a buffer is refused, not overrun. */
	EXPECT_EQ(initial_stack_build(&in, top, buf, 64, &used), 0);
#undef WORD
#undef STR
}
