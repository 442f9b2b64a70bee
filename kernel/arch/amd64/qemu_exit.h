/*
 * Ending a QEMU run with a status. QEMU's isa-debug-exit device (port 0xf4, 4 bytes) makes QEMU
 * exit with (value << 1) | 1. The kernel writes KERNEL_EXIT_MARKER | status so scripts/qemu-run.sh
 * can tell a real kernel exit from QEMU exiting on its own; it translates back to `status`.
 * Usable from assembly.
 */
#ifndef PAGESCOPE_ARCH_AMD64_QEMU_EXIT_H
#define PAGESCOPE_ARCH_AMD64_QEMU_EXIT_H

#define QEMU_DEBUG_EXIT_PORT 0xf4
#define KERNEL_EXIT_MARKER 0x10

#define KERNEL_EXIT_SUCCESS 0     /* everything asked for ran and passed */
#define KERNEL_EXIT_TEST_FAILED 1 /* in-kernel tests ran and at least one failed */
#define KERNEL_EXIT_PANIC 2       /* panic() */
#define KERNEL_EXIT_FAULT 3       /* an unexpected CPU exception */
#define KERNEL_EXIT_UNSUPPORTED 4 /* not booted by multiboot2, or the CPU lacks something required */
#define KERNEL_EXIT_BAD_CONFIG 5  /* the command line had errors and the kernel refused to run */
#define KERNEL_EXIT_BAD_INPUT 6   /* a scenario refused its input (e.g. a corrupt workload module) */

#ifndef __ASSEMBLY__
#include "kernel/lib/compiler.h"
/* Ends the QEMU run with `status`; halts forever when not under QEMU. */
void qemu_exit(int status) NORETURN;
#endif

#endif
