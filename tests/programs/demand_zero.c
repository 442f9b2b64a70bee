/*
 * Demand-zero memory: the first touch of an anonymous mapping and of memory the break grew gives
 * zeroes; memory the break gave back and took again is zero again; a 1 GiB reservation of which
 * only three pages are ever touched works (those pages read zero, then keep what was written).
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "check.h"

#define GIB (1ul << 30)

int main(void)
{
	size_t length = 16 * PAGE;
	unsigned char *anon = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(anon != MAP_FAILED && all_bytes_are(anon, length, 0), "mmap: 16 fresh pages read zero");
	memset(anon, 0x5a, length);
	check(all_bytes_are(anon, length, 0x5a), "mmap: the pages keep what was written");

	unsigned char *before = (unsigned char *)syscall(SYS_brk, 0);
	unsigned char *after = (unsigned char *)syscall(SYS_brk, before + 8 * PAGE);
	check(after == before + 8 * PAGE, "brk grows the break by 8 pages");
	check(all_bytes_are(before, 8 * PAGE, 0), "brk: the new memory reads zero");
	memset(before, 0x77, 8 * PAGE);
	unsigned char *back = (unsigned char *)syscall(SYS_brk, before + 4 * PAGE);
	check(back == before + 4 * PAGE, "brk shrinks the break");
	check(all_bytes_are(before, 4 * PAGE, 0x77), "brk: memory below the break keeps its bytes");
	unsigned char *again = (unsigned char *)syscall(SYS_brk, before + 8 * PAGE);
	check(again == before + 8 * PAGE && all_bytes_are(before + 4 * PAGE, 4 * PAGE, 0),
	      "brk: memory given back and taken again reads zero");

	unsigned char *huge = mmap(NULL, GIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(huge != MAP_FAILED, "mmap reserves 1 GiB");
	if (huge != MAP_FAILED) {
		size_t touched[3] = { 0, GIB / 2 + 12345, GIB - 1 };
		int zero = 1, kept = 1;
		for (int i = 0; i < 3; i++) {
			zero &= huge[touched[i]] == 0;
			huge[touched[i]] = (unsigned char)(i + 1);
		}
		for (int i = 0; i < 3; i++)
			kept &= huge[touched[i]] == i + 1;
		check(zero, "1 GiB mapping: three touched pages read zero first");
		check(kept, "1 GiB mapping: and keep what was written");
		check(munmap(huge, GIB) == 0, "munmap of the 1 GiB mapping");
	}
	return finish();
}
