/*
 * madvise(MADV_DONTNEED) drops pages: anonymous private pages read zero afterwards (the others
 * keep their bytes), and a private file mapping's dropped page shows the file again, not the
 * write. Needs data.txt (byte i = 'a' + i % 26, at least 2 pages).
 */
#include <fcntl.h>
#include <sys/mman.h>
#include "check.h"

int main(void)
{
	unsigned char *map = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(map != MAP_FAILED, "mmap 4 pages");
	memset(map, 0x33, 4 * PAGE);
	check(madvise(map + PAGE, 2 * PAGE, MADV_DONTNEED) == 0, "madvise DONTNEED on pages 1-2");
	check(all_bytes_are(map + PAGE, 2 * PAGE, 0), "the dropped pages read zero");
	check(all_bytes_are(map, PAGE, 0x33) && all_bytes_are(map + 3 * PAGE, PAGE, 0x33),
	      "pages 0 and 3 keep their bytes");
	map[PAGE] = 1;
	check(map[PAGE] == 1, "a dropped page can be written again");

	int fd = open("data.txt", O_RDONLY);
	unsigned char *file = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	check(fd >= 0 && file != MAP_FAILED, "a private file mapping");
	if (file != MAP_FAILED) {
		file[5] = '#';
		check(madvise(file, PAGE, MADV_DONTNEED) == 0 && file[5] == 'a' + 5,
		      "after DONTNEED the file's byte is back");
	}
	return finish();
}
