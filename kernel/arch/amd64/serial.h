/*
 * 16550 UARTs: COM1 is the human-readable console; COM2 and COM3 carry a user program's stdout and
 * stderr byte for byte (no newline translation), so the harness can compare them with the host's.
 */
#ifndef PAGESCOPE_ARCH_AMD64_SERIAL_H
#define PAGESCOPE_ARCH_AMD64_SERIAL_H

#include <stddef.h>

void serial_init(void);
void serial_write(const char *s, size_t len);

enum serial_program_stream { SERIAL_PROGRAM_STDOUT, SERIAL_PROGRAM_STDERR };
void serial_program_init(void);
/* Writes len bytes exactly as given to the program stream's port. */
void serial_program_write(enum serial_program_stream stream, const void *buf, size_t len);

#endif
