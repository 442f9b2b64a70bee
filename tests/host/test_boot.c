/*
 * Host tests of boot-protocol parsing: multiboot2 information (good and malformed), the cmdline
 * words, and the kernel options they become (kernel/core/options.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernel/boot/cmdline.h"
#include "kernel/boot/multiboot2.h"
#include "kernel/core/options.h"
#include "kernel/lib/testing.h"

static unsigned warnings_seen;
static void count_warning(const char *fmt, ...)
{
	(void)fmt;
	warnings_seen++;
}

/* Builds a multiboot2 information block tag by tag. */
struct mbi_builder {
	uint8_t buf[4096];
	uint32_t len;
};

static void mbi_begin(struct mbi_builder *b)
{
	memset(b, 0, sizeof(*b));
	b->len = 8;
}

static void mbi_tag(struct mbi_builder *b, uint32_t type, const void *payload, uint32_t payload_len)
{
	uint32_t size = 8 + payload_len;
	memcpy(b->buf + b->len, &type, 4);
	memcpy(b->buf + b->len + 4, &size, 4);
	if (payload_len)
		memcpy(b->buf + b->len + 8, payload, payload_len);
	b->len += (size + 7) & ~7u;
}

static void mbi_end(struct mbi_builder *b)
{
	mbi_tag(b, 0, NULL, 0);
	memcpy(b->buf, &b->len, 4);
}

struct mmap_payload {
	uint32_t entry_size, entry_version;
	struct __attribute__((packed)) {
		uint64_t base, length;
		uint32_t type, zero;
	} entries[3];
};

static void build_typical(struct mbi_builder *b)
{
	mbi_begin(b);
	mbi_tag(b, 1, "test vmm=list", 14);
	mbi_tag(b, 2, "GRUB 2.06", 10);
	uint32_t meminfo[2] = { 639, 523136 };
	mbi_tag(b, 4, meminfo, sizeof(meminfo));
	struct mmap_payload m = { 24, 0, { { 0, 0x9fc00, 1, 0 }, { 0x100000, 0x1ff00000, 1, 0 },
					  { 0xfffc0000, 0x40000, 2, 0 } } };
	mbi_tag(b, 6, &m, sizeof(m));
	uint8_t module[8 + 12] = { 0 };
	uint32_t start = 0x2000000, end = 0x2001000;
	memcpy(module, &start, 4);
	memcpy(module + 4, &end, 4);
	memcpy(module + 8, "workload.ws", 12);
	mbi_tag(b, 3, module, sizeof(module));
	mbi_tag(b, 21, "unknown tag payload", 20); /* tags nobody asked for are skipped */
	mbi_end(b);
}

/* A typical GRUB information block parses into every field. */
TEST(boot_multiboot2_parses_typical_info)
{
	struct mbi_builder b;
	struct boot_info bi;
	build_typical(&b);
	ASSERT_TRUE(multiboot2_parse(b.buf, sizeof(b.buf), 0x10000, &bi, count_warning) == NULL);
	EXPECT_STREQ(bi.cmdline, "test vmm=list");
	EXPECT_STREQ(bi.loader_name, "GRUB 2.06");
	EXPECT_EQ(bi.memory_map_count, 3);
	EXPECT_EQ(bi.memory_map[1].base, 0x100000);
	EXPECT_EQ(bi.memory_map[1].length, 0x1ff00000);
	EXPECT_EQ(bi.memory_map[2].type, MB2_MEMORY_RESERVED);
	EXPECT_EQ(bi.module_count, 1);
	EXPECT_EQ(bi.modules[0].start, 0x2000000);
	EXPECT_STREQ(bi.modules[0].name, "workload.ws");
	EXPECT_TRUE(bi.have_basic_meminfo);
	EXPECT_EQ(bi.info_size, b.len);
}

/* Every truncation of a valid block is rejected with a message, never read past its end. */
TEST(boot_multiboot2_rejects_every_truncation)
{
	struct mbi_builder b;
	struct boot_info bi;
	build_typical(&b);
	for (uint32_t cut = 0; cut < b.len; cut++) {
		uint8_t copy[4096];
		memcpy(copy, b.buf, cut);
		uint32_t claimed = b.len; /* the header still claims the full size */
		if (cut >= 4)
			memcpy(copy, &claimed, 4);
		EXPECT_TRUE(multiboot2_parse(copy, cut, 0, &bi, count_warning) != NULL);
	}
}

/* Tags whose sizes lie, and memory maps with impossible entry sizes, are errors. */
TEST(boot_multiboot2_rejects_lying_sizes)
{
	struct mbi_builder b;
	struct boot_info bi;
	build_typical(&b);
	uint8_t bad[4096];

	memcpy(bad, b.buf, sizeof(bad));
	uint32_t huge = 0x7fffffff;
	memcpy(bad + 8 + 4, &huge, 4); /* first tag's size */
	EXPECT_TRUE(multiboot2_parse(bad, sizeof(bad), 0, &bi, count_warning) != NULL);

	memcpy(bad, b.buf, sizeof(bad));
	uint32_t tiny = 3;
	memcpy(bad + 8 + 4, &tiny, 4);
	EXPECT_TRUE(multiboot2_parse(bad, sizeof(bad), 0, &bi, count_warning) != NULL);

	mbi_begin(&b);
	struct mmap_payload m = { 8, 0, { { 0 } } }; /* entry size smaller than an entry */
	mbi_tag(&b, 6, &m, sizeof(m));
	mbi_end(&b);
	EXPECT_TRUE(multiboot2_parse(b.buf, sizeof(b.buf), 0, &bi, count_warning) != NULL);

	mbi_begin(&b); /* no end tag */
	memcpy(b.buf, &b.len, 4);
	EXPECT_TRUE(multiboot2_parse(b.buf, sizeof(b.buf), 0, &bi, count_warning) != NULL);
}

/* An entry size near 2^32 cannot wrap the bounds check and read past the tag (found by fuzzing). */
TEST(boot_multiboot2_memory_map_entry_size_cannot_wrap)
{
	struct mbi_builder b;
	struct boot_info bi;
	mbi_begin(&b);
	uint32_t payload[3] = { 0xfffffffc, 0, 0x3b1100 }; /* entry_size, version, one stray word */
	mbi_tag(&b, 6, payload, sizeof(payload));
	mbi_end(&b);
	EXPECT_TRUE(multiboot2_parse(b.buf, b.len, 0, &bi, count_warning) == NULL);
	EXPECT_EQ(bi.memory_map_count, 0);
}

/* More memory-map entries than the kernel keeps: a warning, the first ones kept. */
TEST(boot_multiboot2_warns_on_too_many_entries)
{
	static uint8_t payload[8 + 24 * (BOOT_MEMORY_MAP_MAX + 5)];
	uint32_t entry_size = 24;
	memset(payload, 0, sizeof(payload));
	memcpy(payload, &entry_size, 4);
	for (unsigned i = 0; i < BOOT_MEMORY_MAP_MAX + 5; i++) {
		uint64_t base = (uint64_t)i << 20, len = 4096;
		uint32_t type = 1;
		memcpy(payload + 8 + 24 * i, &base, 8);
		memcpy(payload + 8 + 24 * i + 8, &len, 8);
		memcpy(payload + 8 + 24 * i + 16, &type, 4);
	}
	static uint8_t buf[8 + 8 + sizeof(payload) + 16];
	uint32_t total = sizeof(buf), type = 6, size = 8 + sizeof(payload);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &total, 4);
	memcpy(buf + 8, &type, 4);
	memcpy(buf + 12, &size, 4);
	memcpy(buf + 16, payload, sizeof(payload));
	uint32_t end_size = 8;
	memcpy(buf + 16 + sizeof(payload) + 4, &end_size, 4);
	struct boot_info bi;
	warnings_seen = 0;
	ASSERT_TRUE(multiboot2_parse(buf, sizeof(buf), 0, &bi, count_warning) == NULL);
	EXPECT_EQ(bi.memory_map_count, BOOT_MEMORY_MAP_MAX);
	EXPECT_EQ(bi.warnings, 1);
	EXPECT_EQ(warnings_seen, 1);
	EXPECT_EQ(bi.memory_map[BOOT_MEMORY_MAP_MAX - 1].base, (uint64_t)(BOOT_MEMORY_MAP_MAX - 1) << 20);
}

/* The command line splits into key and key=value words; long words are flagged as truncated. */
TEST(boot_cmdline_splits_words)
{
	struct cmdline_word w;
	const char *p = "  test vmm=list   trace= seed=0x10\tx";
	ASSERT_TRUE((p = cmdline_next(p, &w)) != NULL);
	EXPECT_STREQ(w.key, "test");
	EXPECT_FALSE(w.has_value);
	ASSERT_TRUE((p = cmdline_next(p, &w)) != NULL);
	EXPECT_STREQ(w.key, "vmm");
	EXPECT_STREQ(w.value, "list");
	ASSERT_TRUE((p = cmdline_next(p, &w)) != NULL);
	EXPECT_STREQ(w.key, "trace");
	EXPECT_TRUE(w.has_value);
	EXPECT_STREQ(w.value, "");
	ASSERT_TRUE((p = cmdline_next(p, &w)) != NULL);
	EXPECT_STREQ(w.value, "0x10");
	ASSERT_TRUE((p = cmdline_next(p, &w)) != NULL);
	EXPECT_STREQ(w.key, "x");
	EXPECT_TRUE(cmdline_next(p, &w) == NULL);

	char long_key[100];
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	ASSERT_TRUE(cmdline_next(long_key, &w) != NULL);
	EXPECT_TRUE(w.truncated);
}

/* Numbers: decimal and hex accepted, junk and overflow refused. */
TEST(boot_cmdline_parses_numbers_strictly)
{
	uint64_t v;
	EXPECT_TRUE(cmdline_parse_u64("42", &v) && v == 42);
	EXPECT_TRUE(cmdline_parse_u64("0xFFffFFffFFffFFff", &v) && v == UINT64_MAX);
	EXPECT_TRUE(cmdline_parse_u64("18446744073709551615", &v) && v == UINT64_MAX);
	EXPECT_FALSE(cmdline_parse_u64("18446744073709551616", &v));
	EXPECT_FALSE(cmdline_parse_u64("", &v));
	EXPECT_FALSE(cmdline_parse_u64("0x", &v));
	EXPECT_FALSE(cmdline_parse_u64("12a", &v));
	EXPECT_FALSE(cmdline_parse_u64("-1", &v));
}

/* A command line one byte too long for the kernel's buffer is flagged as cut; one that fits is not. */
TEST(boot_multiboot2_flags_a_command_line_that_did_not_fit)
{
	static char line[BOOT_CMDLINE_MAX + 1];
	struct mbi_builder b;
	struct boot_info bi;
	for (unsigned len = BOOT_CMDLINE_MAX - 1; len <= BOOT_CMDLINE_MAX; len++) {
		memset(line, 'x', len);
		line[len] = '\0';
		mbi_begin(&b);
		mbi_tag(&b, 1, line, len + 1);
		mbi_end(&b);
		ASSERT_TRUE(multiboot2_parse(b.buf, b.len, 0, &bi, count_warning) == NULL);
		EXPECT_EQ(bi.cmdline_cut, len > BOOT_CMDLINE_MAX - 1);
		EXPECT_EQ(strlen(bi.cmdline), BOOT_CMDLINE_MAX - 1);
	}
}

static char problems[4096];
static void collect_problem(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t used = strlen(problems);
	vsnprintf(problems + used, sizeof(problems) - used, fmt, ap);
	va_end(ap);
}

static struct kernel_options parse(const char *cmdline)
{
	struct kernel_options o;
	problems[0] = '\0';
	options_parse(&o, cmdline, collect_problem);
	return o;
}

/* Two values for one key: which was meant is unknowable, so the second is refused, not taken. */
TEST(boot_options_refuse_a_key_given_twice)
{
	struct kernel_options o = parse("vmm=list vmm=pagetable");
	EXPECT_EQ(o.errors, 1);
	EXPECT_TRUE(strstr(problems, "option 'vmm' given more than once") != NULL);
	o = parse("test test=vmm");
	EXPECT_EQ(o.errors, 1);
	o = parse("vmm=list trace=drop seed=5 test fault=none scenario=none");
	EXPECT_EQ(o.errors, 0);
	EXPECT_STREQ(problems, "");
}

/* `none` and `all`, which the options line prints, are accepted and mean the defaults / every test. */
TEST(boot_options_accept_what_the_options_line_prints)
{
	struct kernel_options o = parse("fault=none scenario=none test=all");
	EXPECT_EQ(o.errors, 0);
	EXPECT_EQ(o.fault, FAULT_TEST_NONE);
	EXPECT_STREQ(o.scenario, "");
	EXPECT_TRUE(o.run_tests);
	EXPECT_STREQ(o.test_filter, "");
	o = parse("test=vmm_");
	EXPECT_TRUE(o.run_tests);
	EXPECT_STREQ(o.test_filter, "vmm_");
	o = parse("test=");
	EXPECT_EQ(o.errors, 1);
	EXPECT_TRUE(strstr(problems, "option 'test=' not understood") != NULL);
	o = parse("fault=nothing");
	EXPECT_EQ(o.errors, 1);
}

/* The options line is itself a command line meaning the same configuration. */
TEST(boot_options_line_parses_back_to_the_same_options)
{
	static const char *const lines[] = {
		"",
		"test",
		"test=arch_ vmm=list trace=drop seed=0x20",
		"trace=off fault=hang seed=18446744073709551615",
		"fault=write vmm=pagetable trace=on",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct kernel_options first = parse(lines[i]);
		ASSERT_EQ(first.errors, 0);
		char described[512], again[512];
		options_describe(&first, described, sizeof(described));
		struct kernel_options second = parse(described);
		EXPECT_EQ(second.errors, 0);
		EXPECT_EQ(second.run_tests, first.run_tests);
		EXPECT_STREQ(second.test_filter, first.test_filter);
		EXPECT_EQ(second.vmm, first.vmm);
		EXPECT_EQ(second.trace, first.trace);
		EXPECT_EQ(second.fault, first.fault);
		EXPECT_STREQ(second.scenario, first.scenario);
		EXPECT_EQ(second.seed, first.seed);
		options_describe(&second, again, sizeof(again));
		EXPECT_STREQ(again, described);
	}
}
