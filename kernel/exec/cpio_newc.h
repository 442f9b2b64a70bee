/*
 * The module filesystem's format: a cpio archive in the "newc" layout (magic 070701; what
 * `cpio -o -H newc` writes), read in place. Each entry is a 110-byte header of ASCII hex fields,
 * the NUL-terminated name, padding to 4 bytes, the data, padding to 4; "TRAILER!!!" ends it.
 * The whole archive is checked before anything uses it (cpio_check): a truncated or malformed
 * archive is refused with the offset and the reason, never half read.
 */
#ifndef PAGESCOPE_EXEC_CPIO_NEWC_H
#define PAGESCOPE_EXEC_CPIO_NEWC_H

#include "kernel/lib/compiler.h"

struct cpio_entry {
	const char *name;   /* as stored, without a leading "./" or "/" */
	unsigned name_len;  /* without the NUL */
	const uint8_t *data;
	uint64_t size;
	uint32_t mode;      /* st_mode bits as stored */
};

struct cpio_archive {
	const uint8_t *base;
	uint64_t size;
	unsigned entries;   /* entries before the trailer */
};

/*
 * Checks the whole archive. NULL and *archive filled, or a reason (static text) with *bad_offset
 * set to where the problem is.
 */
const char *cpio_check(const uint8_t *base, uint64_t size, struct cpio_archive *archive,
		       uint64_t *bad_offset);
/* Entry `index` (0 .. entries-1) of a checked archive. */
void cpio_entry_at(const struct cpio_archive *archive, unsigned index, struct cpio_entry *out);
/* The entry named `path` (leading "/" and "./" ignored); false (and *out untouched) when there is none. */
bool cpio_find(const struct cpio_archive *archive, const char *path, struct cpio_entry *out);

#endif
