/*
 * vfork then execve of another program of the filesystem (exec_target) with its own argv and
 * envp: the parent waits and gets the new program's exit status 42; an execve of a missing file
 * fails with ENOENT in the child, which exits 127; fork + execve works the same way.
 */
#include <sys/syscall.h>
#include <sys/wait.h>
#include "check.h"

static char *const target_argv[] = { "exec_target", "alpha", "two words", NULL };
static char *const target_envp[] = { "FROM=vfork", "EMPTY=", NULL };

int main(void)
{
	pid_t child = vfork();
	if (child == 0) {
		syscall(SYS_execve, "exec_target", target_argv, target_envp);
		_exit(126);
	}
	int status;
	check(child > 0 && wait4(child, &status, 0, NULL) == child && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 42, "vfork + execve: the new program exits 42");

	child = vfork();
	if (child == 0) {
		long result = syscall(SYS_execve, "no-such-program", target_argv, target_envp);
		_exit(result == -1 && errno == ENOENT ? 127 : 126);
	}
	check(wait4(child, &status, 0, NULL) == child && WIFEXITED(status) && WEXITSTATUS(status) == 127,
	      "execve of a missing file is ENOENT");

	child = fork();
	if (child == 0) {
		char *const argv[] = { "exec_target", "from fork", NULL };
		char *const envp[] = { NULL };
		syscall(SYS_execve, "exec_target", argv, envp);
		_exit(126);
	}
	check(wait4(child, &status, 0, NULL) == child && WIFEXITED(status) && WEXITSTATUS(status) == 42,
	      "fork + execve: the new program exits 42");
	return finish();
}
