/* Boot-time steps of kmain that live in their own files. */
#ifndef PAGESCOPE_CORE_BOOT_H
#define PAGESCOPE_CORE_BOOT_H

#include "kernel/boot/multiboot2.h"
#include "kernel/core/options.h"

extern struct boot_info boot_info;

/* Brings up physical memory management and the kernel's own page tables (memory.c). */
void memory_init(const struct boot_info *bi);

/*
 * Tracing (trace_boot.c): start streaming to the virtio console (events recorded since the first
 * instruction are sent first); finish writes the trace_end record and drains everything.
 */
void trace_boot_start(void);
void trace_boot_finish(void);

/* Test-only (`fault=`): touches memory so that the CPU raises a page fault (fault_test.c). */
void deliberate_fault(enum fault_test kind) NORETURN;

#endif
