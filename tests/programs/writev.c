/* writev and write to stdout and stderr: pieces arrive in order, byte for byte, and the result
 * counts every byte (empty pieces included). */
#include <sys/syscall.h>
#include <sys/uio.h>
#include "check.h"

int main(void)
{
	char first[] = "writev: first piece, ", empty[] = "", second[] = "second piece\n";
	struct iovec out[3] = { { first, strlen(first) }, { empty, 0 }, { second, strlen(second) } };
	long written = syscall(SYS_writev, 1, out, 3);
	char errs1[] = "stderr writev: one ", errs2[] = "two\n";
	struct iovec err[2] = { { errs1, strlen(errs1) }, { errs2, strlen(errs2) } };
	long written_err = syscall(SYS_writev, 2, err, 2);
	check(written == (long)(strlen(first) + strlen(second)), "writev to stdout returns its length");
	check(written_err == (long)(strlen(errs1) + strlen(errs2)), "writev to stderr returns its length");
	check(syscall(SYS_write, 1, "raw\x01\xff bytes\n", 12) == 12, "write of raw bytes");
	check(syscall(SYS_write, 2, "", 0) == 0, "a write of 0 bytes returns 0");
	check(raw_result(syscall(SYS_write, 9, "x", 1)) == -EBADF, "write to an unopened fd is -EBADF");
	return finish();
}
