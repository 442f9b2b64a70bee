/*
 * Forks until the system refuses: a chain in which each process forks one child and waits for it,
 * so every process stays alive until the end. The last fork must fail cleanly with ENOMEM or
 * EAGAIN (pagescope: out of memory; the host test runs it under a process-count limit), and the
 * answer travels back up the chain as exit statuses; only the first process prints.
 * Bound: at most CHAIN_LIMIT processes, so a machine with neither limit is not flooded.
 */
#include <sys/wait.h>
#include "check.h"

#define CHAIN_LIMIT 4096
enum { REFUSED_CLEANLY = 0, OTHER_ERROR = 3, LIMIT_REACHED = 4, A_CHILD_WAS_KILLED = 5 };

static int extend_chain(int length)
{
	if (length >= CHAIN_LIMIT)
		return LIMIT_REACHED;
	pid_t child = fork();
	if (child < 0)
		return errno == ENOMEM || errno == EAGAIN ? REFUSED_CLEANLY : OTHER_ERROR;
	if (child == 0)
		_exit(extend_chain(length + 1));
	int status;
	if (waitpid(child, &status, 0) != child)
		return OTHER_ERROR;
	return WIFEXITED(status) ? WEXITSTATUS(status) : A_CHILD_WAS_KILLED;
}

int main(void)
{
	int outcome = extend_chain(1);
	say("the fork chain ended: %s\n",
	    outcome == REFUSED_CLEANLY ? "a fork was refused with ENOMEM or EAGAIN" :
	    outcome == LIMIT_REACHED ? "FAILED: the chain limit was reached without a refusal" :
	    outcome == A_CHILD_WAS_KILLED ? "FAILED: a process of the chain was killed" :
	    "FAILED: a fork or wait failed with another error");
	return outcome;
}
