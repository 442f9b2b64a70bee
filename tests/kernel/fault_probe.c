/* Fault probes for in-kernel tests; see fault_probe.h. */
#include "fault_probe.h"
#include "kernel/arch/amd64/exceptions.h"
#include "kernel/lib/testing.h"

void probe_read(void *addr) { (void)*(volatile uint8_t *)addr; }
void probe_write(void *addr) { *(volatile uint8_t *)addr = 1; }
void probe_call(void *addr) { ((void (*)(void))addr)(); }

bool page_fault_at(void (*probe)(void *), void *addr, uint64_t bits_set, uint64_t bits_clear)
{
	struct fault_record f = { 0 };
	if (!fault_catch(probe, addr, &f)) {
		testing_note("no fault at %p", addr);
		return false;
	}
	bool as_expected = f.vector == VECTOR_PAGE_FAULT && f.cr2 == (uint64_t)addr &&
			   (f.error_code & bits_set) == bits_set && (f.error_code & bits_clear) == 0;
	if (!as_expected)
		testing_note("at %p: vector %u, CR2 %#lx, error code %#lx", addr, f.vector, f.cr2,
			     f.error_code);
	return as_expected;
}
