/*
 * `fault=read|write|exec`: a deliberate page fault, so tests can prove that the exception report
 * is readable (vector, error code, RIP, CR2 and the decoded reason) and that the run stops with
 * KERNEL_EXIT_FAULT instead of hanging or triple-faulting.
 */
#include "boot.h"
#include "log.h"
#include "kernel/arch/amd64/vm.h"

/* The first page of an unused region of the seed's map: never mapped. */
#define NEVER_MAPPED (HIGHER_HALF_BASE + 1 * TiB)

void deliberate_fault(enum fault_test kind)
{
	volatile uint64_t *target = (volatile uint64_t *)NEVER_MAPPED;
	kprintf("fault test: %s at %p\n",
		kind == FAULT_TEST_READ ? "read" : kind == FAULT_TEST_WRITE ? "write" : "execute",
		(void *)target);
	switch (kind) {
	case FAULT_TEST_READ:
		(void)*target;
		break;
	case FAULT_TEST_WRITE:
		*target = 0xdead;
		break;
	case FAULT_TEST_EXEC:
		((void (*)(void))NEVER_MAPPED)();
		break;
	case FAULT_TEST_NONE:
		break;
	}
	panic("deliberate_fault: the access did not fault");
}
