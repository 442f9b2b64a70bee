/* In-kernel tests of the foundation: exceptions can be caught and decoded, the CPU is set up. */
#include "kernel/arch/amd64/cpu.h"
#include "kernel/arch/amd64/exceptions.h"
#include "kernel/arch/amd64/vm.h"
#include "kernel/lib/format.h"
#include "kernel/lib/testing.h"
#include "kernel/trace/tracer.h"
#include "tests/kernel/fault_probe.h"

#define NEVER_MAPPED (NEVER_MAPPED_BASE + 0x1234)

static void no_fault(void *arg)
{
	*(int *)arg = 42;
}

/* A read of an unmapped address is caught as a page fault with CR2 and the error code right. */
TEST(arch_fault_catch_reports_read_of_unmapped_page)
{
	struct fault_record f = { 0 };
	ASSERT_TRUE(fault_catch(probe_read, (void *)NEVER_MAPPED, &f));
	EXPECT_EQ(f.vector, VECTOR_PAGE_FAULT);
	EXPECT_EQ(f.cr2, NEVER_MAPPED);
	EXPECT_EQ(f.error_code & (PF_PRESENT | PF_WRITE | PF_USER | PF_INSTRUCTION_FETCH), 0);
}

/* A write fault sets the write bit, and the decoder says so in words. */
TEST(arch_fault_catch_reports_write_and_decodes_it)
{
	struct fault_record f = { 0 };
	ASSERT_TRUE(fault_catch(probe_write, (void *)NEVER_MAPPED, &f));
	EXPECT_EQ(f.vector, VECTOR_PAGE_FAULT);
	EXPECT_TRUE(f.error_code & PF_WRITE);
	char text[128];
	page_fault_describe(f.error_code, text, sizeof(text));
	EXPECT_STREQ(text, "kernel mode write to a non-present page");
}

/* Code that does not fault runs to completion and fault_catch says no fault happened. */
TEST(arch_fault_catch_passes_through_normal_code)
{
	int out = 0;
	struct fault_record f = { 0 };
	EXPECT_FALSE(fault_catch(no_fault, &out, &f));
	EXPECT_EQ(out, 42);
	/* And catching works again after a normal run. */
	EXPECT_TRUE(fault_catch(probe_read, (void *)NEVER_MAPPED, &f));
}

/* Long mode with NX enabled in EFER, paging with write protection on. */
TEST(arch_cpu_runs_in_long_mode_with_nx_enabled)
{
	EXPECT_TRUE(rdmsr(MSR_EFER) & EFER_NXE);
	EXPECT_TRUE(read_cr0() & (1ull << 16)); /* WP */
	EXPECT_TRUE(read_cr0() & (1ull << 31)); /* PG */
	EXPECT_TRUE(cpu_features.long_mode && cpu_features.nx);
}

/* The kernel runs on the boot stack at the top of the scratchpad, as the seed's map says. */
TEST(arch_kernel_stack_is_at_top_of_scratchpad)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	EXPECT_LT(sp, KERNEL_STACK_TOP);
	EXPECT_GE(sp, KERNEL_STACK_TOP - KERNEL_STACK_SIZE);
}

/*
 * The time-stamp counter moves forward with the work done, as trace timestamps need: strictly
 * between any two reads (so records never share a time), and by at least one tick per iteration
 * of a loop whose every iteration is several instructions (one tick per instruction under
 * -icount; at least a cycle each on hardware, and the counter runs at the nominal clock).
 */
/*
 * The kernel's clock counts from the kernel's first instruction: the entry stub's reading reached
 * kmain (it is not 0: the firmware and the loader ran before), and kernel_clock_now is the counter
 * minus it, so it reads less than the counter read just before it.
 */
TEST(arch_kernel_clock_counts_from_the_kernels_entry)
{
	EXPECT_LT(0, kernel_clock_origin);
	uint64_t counter = rdtsc();
	uint64_t since_entry = kernel_clock_now();
	EXPECT_LT(0, since_entry);
	EXPECT_LT(since_entry, counter);
	EXPECT_LE(counter - kernel_clock_origin, since_entry); /* the same counter, rebased */
}

TEST(arch_tsc_advances)
{
	uint64_t reads[64];
	for (unsigned i = 0; i < ARRAY_SIZE(reads); i++)
		reads[i] = rdtsc();
	for (unsigned i = 1; i < ARRAY_SIZE(reads); i++)
		EXPECT_LT(reads[i - 1], reads[i]);
	const uint64_t iterations = 100000;
	uint64_t before = rdtsc();
	for (volatile uint64_t i = 0; i < iterations; i++)
		;
	uint64_t ticks = rdtsc() - before;
	EXPECT_GE(ticks, iterations);
	testing_note("%llu ticks for %llu loop iterations", (unsigned long long)ticks,
		     (unsigned long long)iterations);
}
