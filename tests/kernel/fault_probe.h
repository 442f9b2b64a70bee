/*
 * Probes for in-kernel tests that expect (or rule out) a page fault: a read, a write and a call at
 * an address, run under fault_catch(), and one check of what the CPU reported.
 */
#ifndef PAGESCOPE_TESTS_KERNEL_FAULT_PROBE_H
#define PAGESCOPE_TESTS_KERNEL_FAULT_PROBE_H

#include "kernel/lib/compiler.h"

/* Touch the byte at `addr` (the fault_catch argument) by reading, writing, or calling it. */
void probe_read(void *addr);
void probe_write(void *addr);
void probe_call(void *addr);

/*
 * Runs probe(addr) and returns true when it raised a page fault at exactly `addr` whose error
 * code has every bit of `bits_set` and none of `bits_clear`. When it returns false, a note says
 * what happened instead.
 */
bool page_fault_at(void (*probe)(void *), void *addr, uint64_t bits_set, uint64_t bits_clear);

#endif
