/* 16550 UART on COM1: the human-readable console. */
#ifndef PAGESCOPE_ARCH_AMD64_SERIAL_H
#define PAGESCOPE_ARCH_AMD64_SERIAL_H

#include <stddef.h>

void serial_init(void);
void serial_write(const char *s, size_t len);

#endif
