/*
 * `fault=read|write|exec`: a deliberate page fault, so tests can prove that the exception report
 * is readable (vector, error code, RIP, CR2 and the decoded reason) and that the run stops with
 * KERNEL_EXIT_FAULT instead of hanging or triple-faulting.
 * `fault=triple|hang`: the two failures a kernel cannot report itself; the boot tests use them to
 * prove that the harness still counts them as failures (QEMU exit without status, timeout).
 */
#include "boot.h"
#include "log.h"
#include "kernel/arch/amd64/cpu.h"
#include "kernel/arch/amd64/vm.h"

void deliberate_fault(enum fault_test kind)
{
	volatile uint64_t *target = (volatile uint64_t *)NEVER_MAPPED_BASE;
	static const char *const names[] = { "none", "read", "write", "execute", "triple fault", "hang" };
	kprintf("fault test: %s at %p\n", names[kind], (void *)target);
	switch (kind) {
	case FAULT_TEST_READ:
		(void)*target;
		break;
	case FAULT_TEST_WRITE:
		*target = 0xdead;
		break;
	case FAULT_TEST_EXEC:
		((void (*)(void))NEVER_MAPPED_BASE)();
		break;
	case FAULT_TEST_TRIPLE: {
		/* An empty IDT: the breakpoint cannot be delivered, nor the double fault: reset. */
		struct __attribute__((packed)) { uint16_t limit; uint64_t base; } empty = { 0, 0 };
		__asm__ volatile("lidt %0; int3" : : "m"(empty));
		break;
	}
	case FAULT_TEST_HANG:
		cpu_halt_forever();
	case FAULT_TEST_NONE:
		break;
	}
	panic("deliberate_fault: the access did not fault");
}
