/*
 * The read-only filesystem and stdin: open, openat, read, readv, lseek, pread64, fstat, stat,
 * lstat, newfstatat, close; a missing file and a closed descriptor fail as on Linux; a private
 * file mapping shows the file, a write to it stays private, and a mapping at a page offset starts
 * there. Needs data.txt (DATA_BYTES bytes, byte i = 'a' + i % 26) and reads stdin to its end.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include "check.h"

#define DATA_BYTES 10000

static unsigned char expected_byte(long i) { return (unsigned char)('a' + i % 26); }

static int matches_data(const unsigned char *p, long offset, long n)
{
	for (long i = 0; i < n; i++)
		if (p[i] != expected_byte(offset + i))
			return 0;
	return 1;
}

int main(void)
{
	static unsigned char buffer[DATA_BYTES + 100];
	long fd = syscall(SYS_open, "data.txt", O_RDONLY);
	check(fd >= 3, "open data.txt gives the lowest free descriptor above stdio");
	struct stat st;
	check(syscall(SYS_fstat, fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == DATA_BYTES,
	      "fstat: a regular file of 10000 bytes");
	long total = 0, n;
	while ((n = syscall(SYS_read, fd, buffer + total, 4096)) > 0)
		total += n;
	check(n == 0 && total == DATA_BYTES && matches_data(buffer, 0, total),
	      "read returns every byte, then 0 at the end");
	check(syscall(SYS_lseek, fd, 0L, SEEK_CUR) == DATA_BYTES, "lseek SEEK_CUR after reading");
	check(syscall(SYS_lseek, fd, -100L, SEEK_END) == DATA_BYTES - 100, "lseek SEEK_END - 100");
	check(syscall(SYS_read, fd, buffer, 200) == 100 && matches_data(buffer, DATA_BYTES - 100, 100),
	      "read past the end gives what is left");
	check(syscall(SYS_lseek, fd, 4000L, SEEK_SET) == 4000, "lseek SEEK_SET");
	unsigned char first[10], second[20];
	struct iovec parts[2] = { { first, sizeof first }, { second, sizeof second } };
	check(syscall(SYS_readv, fd, parts, 2) == 30 && matches_data(first, 4000, 10) &&
	      matches_data(second, 4010, 20), "readv fills two buffers in order");
	check(syscall(SYS_pread64, fd, buffer, 50, 9000L) == 50 && matches_data(buffer, 9000, 50),
	      "pread64 at an offset");
	check(syscall(SYS_lseek, fd, 0L, SEEK_CUR) == 4030, "pread64 leaves the offset alone");
	check(raw_result(syscall(SYS_lseek, fd, -1L, SEEK_SET)) == -EINVAL,
	      "lseek before the start is -EINVAL");

	unsigned char *map = mmap(NULL, DATA_BYTES, PROT_READ, MAP_PRIVATE, (int)fd, 0);
	check(map != MAP_FAILED && matches_data(map, 0, DATA_BYTES), "mmap of the file shows it");
	check(map != MAP_FAILED && all_bytes_are(map + DATA_BYTES, 3 * PAGE - DATA_BYTES, 0),
	      "the mapping's last page is zero past the end of the file");
	munmap(map, DATA_BYTES);
	unsigned char *page1 = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, (int)fd, PAGE);
	check(page1 != MAP_FAILED && matches_data(page1, PAGE, PAGE), "mmap at offset 4096");
	if (page1 != MAP_FAILED) {
		page1[0] = '#';
		check(syscall(SYS_pread64, fd, buffer, 1, (long)PAGE) == 1 && buffer[0] == expected_byte(PAGE),
		      "a write to a private file mapping does not reach the file");
		check(page1[0] == '#' && matches_data(page1 + 1, PAGE + 1, PAGE - 1),
		      "the private copy keeps the write and the rest of the page");
	}
	check(syscall(SYS_close, fd) == 0, "close");
	check(raw_result(syscall(SYS_read, fd, buffer, 1)) == -EBADF, "read of a closed fd is -EBADF");
	check(raw_result(syscall(SYS_close, fd)) == -EBADF, "close twice is -EBADF");

	long at = syscall(SYS_openat, (long)AT_FDCWD, "data.txt", O_RDONLY);
	check(at >= 3 && syscall(SYS_read, at, buffer, 5) == 5 && matches_data(buffer, 0, 5),
	      "openat(AT_FDCWD) and read");
	syscall(SYS_close, at);
	check(raw_result(syscall(SYS_open, "no-such-file", O_RDONLY)) == -ENOENT,
	      "open of a missing file is -ENOENT");

	check(syscall(SYS_stat, "data.txt", &st) == 0 && st.st_size == DATA_BYTES, "stat");
	check(syscall(SYS_lstat, "data.txt", &st) == 0 && st.st_size == DATA_BYTES, "lstat");
	check(syscall(SYS_newfstatat, (long)AT_FDCWD, "data.txt", &st, 0) == 0 && st.st_size == DATA_BYTES,
	      "newfstatat");
	check(raw_result(syscall(SYS_stat, "no-such-file", &st)) == -ENOENT,
	      "stat of a missing file is -ENOENT");
	check(syscall(SYS_fstat, 0, &st) == 0, "fstat of stdin");

	unsigned long sum = 0;
	total = 0;
	while ((n = syscall(SYS_read, 0, buffer, 777)) > 0) {
		for (long i = 0; i < n; i++)
			sum = sum * 31 + buffer[i];
		total += n;
	}
	say("stdin: %ld bytes, checksum %lu, then read returns %ld\n", total, sum, n);
	return finish();
}
