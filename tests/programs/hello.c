/* The smallest run: a line on stdout, one on stderr, and the exit status given as argv[1]. */
#include <stdlib.h>
#include "check.h"

int main(int argc, char **argv)
{
	say("hello from stdout\n");
	say_on(2, "hello from stderr\n");
	return argc > 1 ? atoi(argv[1]) : 0;
}
