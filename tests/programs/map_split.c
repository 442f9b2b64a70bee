/*
 * Partial munmap and mprotect split a mapping: of 8 pages, page 2 is unmapped and pages 4-5 made
 * read-only then writable again; every other page keeps its contents, a new mapping placed into
 * the hole (MAP_FIXED) reads zero, and PROT_NONE then PROT_READ keeps the bytes.
 */
#include <sys/mman.h>
#include "check.h"

int main(void)
{
	unsigned char *map = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(map != MAP_FAILED, "mmap 8 pages");
	for (int page = 0; page < 8; page++)
		memset(map + page * PAGE, 'A' + page, PAGE);
	check(munmap(map + 2 * PAGE, PAGE) == 0, "munmap page 2 of 8");
	check(mprotect(map + 4 * PAGE, 2 * PAGE, PROT_READ) == 0, "mprotect pages 4-5 read-only");
	int kept = 1;
	for (int page = 0; page < 8; page++)
		if (page != 2)
			kept &= all_bytes_are(map + page * PAGE, PAGE, (unsigned char)('A' + page));
	check(kept, "every other page keeps its bytes");
	check(mprotect(map + 4 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect back to read-write");
	map[4 * PAGE] = 'z';
	map[6 * PAGE - 1] = 'z';
	check(map[4 * PAGE] == 'z' && map[6 * PAGE - 1] == 'z', "pages 4-5 are writable again");
	unsigned char *hole = mmap(map + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check(hole == map + 2 * PAGE && all_bytes_are(hole, PAGE, 0),
	      "a MAP_FIXED mapping in the hole reads zero");
	check(mprotect(map + 7 * PAGE, PAGE, PROT_NONE) == 0 &&
	      mprotect(map + 7 * PAGE, PAGE, PROT_READ) == 0 &&
	      all_bytes_are(map + 7 * PAGE, PAGE, 'H'), "PROT_NONE then PROT_READ keeps the bytes");
	check(munmap(map, 8 * PAGE) == 0, "munmap of the whole range, hole included");
	check(raw_result(munmap(map + 1, PAGE)) == -EINVAL, "munmap of an unaligned address is -EINVAL");
	return finish();
}
