/* What vfork_exec runs through execve: prints the argv and envp it was given and exits 42. */
#include "check.h"

int main(int argc, char **argv, char **envp)
{
	say("exec_target: argc %d\n", argc);
	for (int i = 0; i < argc; i++)
		say("exec_target: argv[%d] = %s\n", i, argv[i]);
	for (int i = 0; envp[i]; i++)
		say("exec_target: envp[%d] = %s\n", i, envp[i]);
	return 42;
}
