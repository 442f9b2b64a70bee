/*
 * Copy-on-write across fork: private memory (data, heap, stack, an anonymous mapping, a page
 * never touched before the fork) is the parent's and the child's own after the fork. The child
 * sees the parent's bytes, writes its own and sees them; the parent never sees the child's;
 * each of two children sees only its own; after the children end the parent, the last sharer,
 * writes its pages again. Children report their checks in their exit status.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "check.h"

static char data_page[PAGE] = "parent data";

struct memory { char *heap; char *stack; unsigned char *anon; unsigned char *untouched; };

static int child_writes(struct memory m, char mark)
{
	int saw_parent = strcmp(data_page, "parent data") == 0 && strcmp(m.heap, "parent heap") == 0 &&
		strcmp(m.stack, "parent stack") == 0 && all_bytes_are(m.anon, PAGE, 'p') &&
		all_bytes_are(m.untouched, PAGE, 0);
	data_page[0] = mark;
	m.heap[0] = mark;
	m.stack[0] = mark;
	memset(m.anon, mark, PAGE);
	memset(m.untouched, mark, PAGE);
	int sees_own = data_page[0] == mark && m.heap[0] == mark && m.stack[0] == mark &&
		all_bytes_are(m.anon, PAGE, (unsigned char)mark) &&
		all_bytes_are(m.untouched, PAGE, (unsigned char)mark);
	return (saw_parent ? 0 : 1) | (sees_own ? 0 : 2);
}

static int parent_unchanged(struct memory m)
{
	return strcmp(data_page, "parent data") == 0 && strcmp(m.heap, "parent heap") == 0 &&
		strcmp(m.stack, "parent stack") == 0 && all_bytes_are(m.anon, PAGE, 'p') &&
		all_bytes_are(m.untouched, PAGE, 0);
}

int main(void)
{
	char stack_bytes[64] = "parent stack";
	struct memory m = { malloc(64), stack_bytes,
		mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
		mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) };
	strcpy(m.heap, "parent heap");
	memset(m.anon, 'p', PAGE);

	pid_t first = fork();
	if (first == 0)
		_exit(child_writes(m, '1'));
	int status;
	check(waitpid(first, &status, 0) == first && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "child 1 saw the parent's bytes and then its own");
	check(parent_unchanged(m), "the parent does not see child 1's writes");

	pid_t second = fork();
	if (second == 0)
		_exit(child_writes(m, '2'));
	pid_t third = fork();
	if (third == 0)
		_exit(child_writes(m, '3'));
	int status2, status3;
	check(waitpid(second, &status2, 0) == second && waitpid(third, &status3, 0) == third &&
	      status2 == 0 && status3 == 0, "two children at once each see only their own writes");
	check(parent_unchanged(m), "the parent does not see theirs");

	data_page[0] = 'P';
	m.heap[0] = 'P';
	m.stack[0] = 'P';
	memset(m.anon, 'P', PAGE);
	memset(m.untouched, 'P', PAGE);
	check(data_page[0] == 'P' && m.heap[0] == 'P' && m.stack[0] == 'P' &&
	      all_bytes_are(m.anon, PAGE, 'P') && all_bytes_are(m.untouched, PAGE, 'P'),
	      "the parent, last sharer, writes its pages");
	return finish();
}
