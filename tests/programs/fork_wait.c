/*
 * fork, clone (fork-like) and wait4: exit statuses 0, 7 and 255 (from exit, _exit and
 * exit_group) come back as WEXITSTATUS; a child killed by a fault comes back as WTERMSIG 11 while
 * the parent carries on; wait4(-1) reaps whichever is left; with no child left wait4 is -ECHILD;
 * a child's getppid is its parent's pid.
 */
#include <signal.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "check.h"

int main(void)
{
	pid_t self = getpid();
	pid_t a = fork();
	if (a == 0)
		exit(0);
	pid_t b = fork();
	if (b == 0)
		_exit(7);
	pid_t c = fork();
	if (c == 0)
		syscall(SYS_exit_group, 255);
	pid_t d = fork();
	if (d == 0)
		_exit(getppid() == self ? 0 : 1);
	pid_t killed = fork();
	if (killed == 0) {
		int *volatile nowhere = (int *)16; /* nothing is mapped at page 0 */
		*nowhere = 1;
		_exit(99);
	}
	long e = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
	if (e == 0)
		syscall(SYS_exit, 5);
	check(a > 0 && b > 0 && c > 0 && d > 0 && killed > 0 && e > 0, "six children started");

	int status;
	check(wait4(b, &status, 0, NULL) == b && WIFEXITED(status) && WEXITSTATUS(status) == 7,
	      "_exit(7) is WEXITSTATUS 7");
	check(wait4(c, &status, 0, NULL) == c && WIFEXITED(status) && WEXITSTATUS(status) == 255,
	      "exit_group(255) is WEXITSTATUS 255");
	check(wait4(killed, &status, 0, NULL) == killed && WIFSIGNALED(status) &&
	      WTERMSIG(status) == SIGSEGV, "a child killed by a fault is WTERMSIG SIGSEGV");
	check(wait4(e, &status, 0, NULL) == e && WIFEXITED(status) && WEXITSTATUS(status) == 5,
	      "a clone(SIGCHLD) child exits 5");
	int left = 0, zero = 0;
	pid_t reaped;
	while ((reaped = wait4(-1, &status, 0, NULL)) > 0) {
		left++;
		zero += (reaped == a || reaped == d) && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	check(left == 2 && zero == 2, "wait4(-1) reaps the other two, both exit 0 (getppid agreed)");
	check(reaped == -1 && errno == ECHILD, "wait4 with no child left is -ECHILD");
	return finish();
}
