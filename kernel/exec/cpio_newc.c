/* Reading a newc cpio archive in place (cpio_newc.h). Bound: one pass over the headers per call. */
#include "cpio_newc.h"
#include "kernel/lib/string.h"

#define HEADER_BYTES 110
#define FIELD_BYTES 8
enum field { F_INO, F_MODE, F_UID, F_GID, F_NLINK, F_MTIME, F_FILESIZE, F_DEVMAJOR, F_DEVMINOR,
	     F_RDEVMAJOR, F_RDEVMINOR, F_NAMESIZE, F_CHECK };

static const char trailer[] = "TRAILER!!!";

static bool hex_field(const uint8_t *header, enum field f, uint32_t *out)
{
	uint32_t v = 0;
	const uint8_t *p = header + 6 + FIELD_BYTES * (unsigned)f;
	for (unsigned i = 0; i < FIELD_BYTES; i++) {
		uint8_t c = p[i];
		unsigned d = 16;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a') + 10u;
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A') + 10u;
		if (d == 16)
			return false;
		v = v << 4 | d;
	}
	*out = v;
	return true;
}

static uint64_t align4(uint64_t x)
{
	return (x + 3) & ~(uint64_t)3;
}

/*
 * The entry at *offset: fills *out and moves *offset past it. NULL or the reason it is bad.
 */
static const char *read_entry(const uint8_t *base, uint64_t size, uint64_t *offset,
			      struct cpio_entry *out)
{
	uint64_t at = *offset;
	if (size - at < HEADER_BYTES)
		return "truncated header";
	const uint8_t *h = base + at;
	if (memcmp(h, "070701", 6) != 0)
		return "bad magic (not a newc archive: expected 070701)";
	uint32_t namesize, filesize, mode;
	if (!hex_field(h, F_NAMESIZE, &namesize) || !hex_field(h, F_FILESIZE, &filesize) ||
	    !hex_field(h, F_MODE, &mode))
		return "a header field is not hexadecimal";
	if (namesize == 0 || namesize > size - at - HEADER_BYTES)
		return "name runs past the end";
	const char *name = (const char *)h + HEADER_BYTES;
	if (name[namesize - 1] != '\0' || strlen(name) != namesize - 1)
		return "name is not one NUL-terminated string";
	uint64_t data = align4(at + HEADER_BYTES + namesize);
	if (data > size || filesize > size - data)
		return "data runs past the end";
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	while (name[0] == '/')
		name++;
	*out = (struct cpio_entry){ name, (unsigned)strlen(name), base + data, filesize, mode };
	*offset = align4(data + filesize);
	if (*offset > size)
		*offset = size; /* the last entry's padding may be missing */
	return NULL;
}

const char *cpio_check(const uint8_t *base, uint64_t size, struct cpio_archive *archive,
		       uint64_t *bad_offset)
{
	uint64_t offset = 0;
	unsigned count = 0;
	for (;;) {
		struct cpio_entry e;
		*bad_offset = offset;
		const char *err = read_entry(base, size, &offset, &e);
		if (err)
			return err;
		if (strcmp(e.name, trailer) == 0)
			break;
		count++;
	}
	*archive = (struct cpio_archive){ base, size, count };
	return NULL;
}

void cpio_entry_at(const struct cpio_archive *archive, unsigned index, struct cpio_entry *out)
{
	uint64_t offset = 0;
	for (unsigned i = 0; i <= index; i++)
		read_entry(archive->base, archive->size, &offset, out);
}

bool cpio_find(const struct cpio_archive *archive, const char *path, struct cpio_entry *out)
{
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	while (path[0] == '/')
		path++;
	uint64_t offset = 0;
	for (unsigned i = 0; i < archive->entries; i++) {
		struct cpio_entry e;
		read_entry(archive->base, archive->size, &offset, &e);
		if (strcmp(e.name, path) == 0) {
			*out = e;
			return true;
		}
	}
	return false; /* *out untouched */
}
