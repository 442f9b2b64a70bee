/* Splits a kernel command line into `key` / `key=value` words. Arch-free, host-tested. */
#ifndef PAGESCOPE_BOOT_CMDLINE_H
#define PAGESCOPE_BOOT_CMDLINE_H

#include "kernel/lib/compiler.h"

#define CMDLINE_KEY_MAX 32
#define CMDLINE_VALUE_MAX 224

struct cmdline_word {
	char key[CMDLINE_KEY_MAX];
	char value[CMDLINE_VALUE_MAX];
	bool has_value; /* `key=` has an (empty) value; `key` has none */
	bool truncated; /* the key or value did not fit and was cut */
};

/*
 * Reads the next word starting at `cursor` (words are separated by spaces or tabs). Returns the
 * position after it, or NULL when no word is left.
 */
const char *cmdline_next(const char *cursor, struct cmdline_word *word);

/* Parses a decimal or 0x-prefixed hexadecimal u64; false on junk, an empty string or overflow. */
bool cmdline_parse_u64(const char *s, uint64_t *out);

#endif
