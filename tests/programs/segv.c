/*
 * Faults that no rule resolves: the process is killed as Linux kills it with SIGSEGV (exit
 * status 139 for a shell). argv[1] picks the fault:
 *   mprotect-write  write to a page made read-only by mprotect
 *   rodata-write    write to the program's read-only data
 *   exec-writable   call into a writable (not executable) page
 *   unreserved      read an address no mapping covers
 *   kernel-jump     jump to a kernel address
 *   munmap-touch    read a page after munmap
 * It prints the line before the fault; a line after it means the fault was not caught (exit 1).
 */
#include <sys/mman.h>
#include "check.h"

static const char read_only_text[] = "read-only data";

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	unsigned char *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return 2;
	page[0] = 0xc3; /* ret */
	say("%s: about to fault\n", what);
	if (strcmp(what, "mprotect-write") == 0) {
		mprotect(page, PAGE, PROT_READ);
		page[1] = 1;
	} else if (strcmp(what, "rodata-write") == 0) {
		*(volatile char *)read_only_text = 'R';
	} else if (strcmp(what, "exec-writable") == 0) {
		((void (*)(void))page)();
	} else if (strcmp(what, "unreserved") == 0) {
		(void)*(volatile char *)0x200000000000ul;
	} else if (strcmp(what, "kernel-jump") == 0) {
		((void (*)(void))0xffffffff81000000ul)();
	} else if (strcmp(what, "munmap-touch") == 0) {
		munmap(page, PAGE);
		(void)*(volatile unsigned char *)page;
	} else {
		say("unknown fault '%s'\n", what);
		return 2;
	}
	say("%s: FAILED: the fault did not kill the process\n", what);
	return 1;
}
