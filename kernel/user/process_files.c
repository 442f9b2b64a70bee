/*
 * A process's open files: fd 0 reads the run's `.stdin` (or EOF), fds 1 and 2 write to the
 * program serial ports (COM2, COM3), and the module filesystem's files open read-only. Work: an
 * open scans the archive's entries once.
 */
#include "process.h"
#include "kernel/arch/amd64/serial.h"

void files_init_standard(struct process *p)
{
	memset(p->files, 0, sizeof(p->files));
	p->files[0].kind = FILE_STDIN;
	if (program_world.has_stdin)
		p->files[0].entry = program_world.stdin_entry;
	p->files[1].kind = FILE_STDOUT;
	p->files[2].kind = FILE_STDERR;
}

void files_close_all(struct process *p)
{
	memset(p->files, 0, sizeof(p->files));
}
