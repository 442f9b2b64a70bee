/*
 * mremap keeps contents: grown in place or moved, the old bytes are at the new address and the
 * added pages read zero; blocked by a neighbour, growth without MREMAP_MAYMOVE is -ENOMEM and with
 * it the mapping moves; shrinking keeps the front.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include "check.h"

static int pattern_kept(const unsigned char *p, size_t pages)
{
	for (size_t page = 0; page < pages; page++)
		if (!all_bytes_are(p + page * PAGE, PAGE, (unsigned char)(page + 1)))
			return 0;
	return 1;
}

int main(void)
{
	/* reserve 16 pages, keep the first 4: growth to 8 has room whether it moves or not */
	unsigned char *map = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(map != MAP_FAILED && munmap(map + 4 * PAGE, 12 * PAGE) == 0, "mmap 4 pages");
	for (int page = 0; page < 4; page++)
		memset(map + page * PAGE, page + 1, PAGE);
	unsigned char *grown = mremap(map, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
	check(grown != MAP_FAILED && pattern_kept(grown, 4), "mremap 4 -> 8 pages keeps the bytes");
	check(grown != MAP_FAILED && all_bytes_are(grown + 4 * PAGE, 4 * PAGE, 0),
	      "the added pages read zero");

	unsigned char *block = mmap(grown + 8 * PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				    -1, 0);
	check(block == grown + 8 * PAGE, "a neighbour page right after the mapping");
	check(raw_result((long)mremap(grown, 8 * PAGE, 12 * PAGE, 0)) == -ENOMEM,
	      "growth into the neighbour without MREMAP_MAYMOVE is -ENOMEM");
	for (int page = 4; page < 8; page++)
		memset(grown + page * PAGE, page + 1, PAGE);
	unsigned char *moved = mremap(grown, 8 * PAGE, 12 * PAGE, MREMAP_MAYMOVE);
	check(moved != MAP_FAILED && moved != grown, "with MREMAP_MAYMOVE the mapping moves");
	check(moved != MAP_FAILED && pattern_kept(moved, 8) && all_bytes_are(moved + 8 * PAGE, 4 * PAGE, 0),
	      "the moved mapping keeps its bytes, its new pages read zero");
	unsigned char *shrunk = mremap(moved, 12 * PAGE, 2 * PAGE, 0);
	check(shrunk == moved && pattern_kept(shrunk, 2), "shrinking keeps the front in place");
	return finish();
}
