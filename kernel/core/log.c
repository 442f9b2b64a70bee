/* The kernel log: printf-style formatting straight to the serial console. */
#include "log.h"
#include "kernel/arch/amd64/qemu_exit.h"
#include "kernel/arch/amd64/serial.h"
#include "kernel/lib/format.h"

static void serial_sink(void *ctx, const char *chars, size_t len)
{
	(void)ctx;
	serial_write(chars, len);
}

void kvprintf(const char *fmt, va_list ap)
{
	format_to_sink(serial_sink, NULL, fmt, ap);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

void panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kprintf("\npanic: ");
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
	qemu_exit(KERNEL_EXIT_PANIC);
}
