/* The kernel's human-readable log on the serial console (COM1). */
#ifndef PAGESCOPE_CORE_LOG_H
#define PAGESCOPE_CORE_LOG_H

#include "kernel/lib/compiler.h"
#include <stdarg.h>

void kprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
void kvprintf(const char *fmt, va_list ap);
/* Stops the kernel: prints the message with "panic: " and exits QEMU with KERNEL_EXIT_PANIC. */
void panic(const char *fmt, ...) PRINTF_LIKE(1, 2) NORETURN;

#endif
