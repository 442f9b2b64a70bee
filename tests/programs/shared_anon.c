/*
 * MAP_SHARED|MAP_ANONYMOUS memory is one memory for parent and child: what the child writes the
 * parent reads after wait4, including a page nobody had touched before the fork (its zero page
 * must be the shared one, not a private copy). The child's exit status carries its own checks.
 */
#include <sys/mman.h>
#include <sys/wait.h>
#include "check.h"

int main(void)
{
	unsigned char *shared = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	check(shared != MAP_FAILED, "mmap 2 shared anonymous pages");
	memcpy(shared, "parent", 7);
	pid_t child = fork();
	if (child == 0) {
		int ok = memcmp(shared, "parent", 7) == 0 && all_bytes_are(shared + PAGE, PAGE, 0);
		memcpy(shared, "child", 6);
		memset(shared + PAGE, 0x42, PAGE);
		_exit(ok ? 0 : 3);
	}
	int status = -1;
	check(child > 0 && waitpid(child, &status, 0) == child, "fork and wait4");
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the child saw the parent's write and a zero untouched page");
	check(memcmp(shared, "child", 6) == 0, "the parent sees the child's write");
	check(all_bytes_are(shared + PAGE, PAGE, 0x42),
	      "the parent sees the page the child touched first");
	return finish();
}
