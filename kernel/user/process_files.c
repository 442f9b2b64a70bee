/*
 * A process's open files: fd 0 reads the run's `.stdin` (or EOF), fds 1 and 2 write to the
 * program serial ports (COM2, COM3), the module filesystem's files open read-only, and pipes
 * (process.h says how they never block). Work: an open scans the archive's entries once; pipe
 * reads and writes are linear in the bytes moved.
 */
#include "process.h"
#include "kernel/arch/amd64/serial.h"

#define POLL_IN 1u
#define POLL_OUT 4u
#define POLL_HUP 16u

static struct pipe pipes[PIPE_MAX];

void files_init_standard(struct process *p)
{
	memset(p->files, 0, sizeof(p->files));
	p->files[0].kind = FILE_STDIN;
	if (program_world.has_stdin)
		p->files[0].entry = program_world.stdin_entry;
	p->files[1].kind = FILE_STDOUT;
	p->files[2].kind = FILE_STDERR;
}

static void reference(struct open_file *f)
{
	if (f->kind == FILE_PIPE_READ)
		f->pipe->readers++;
	else if (f->kind == FILE_PIPE_WRITE)
		f->pipe->writers++;
}

void file_close(struct open_file *f)
{
	if (f->kind == FILE_PIPE_READ)
		f->pipe->readers--;
	else if (f->kind == FILE_PIPE_WRITE)
		f->pipe->writers--;
	memset(f, 0, sizeof(*f));
}

void file_duplicate(struct open_file *to, const struct open_file *from)
{
	if (to != from) {
		file_close(to);
		*to = *from;
		reference(to);
	}
}

void files_share(struct process *p)
{
	for (unsigned fd = 0; fd < PROCESS_FILES; fd++)
		reference(&p->files[fd]);
}

void files_close_all(struct process *p)
{
	for (unsigned fd = 0; fd < PROCESS_FILES; fd++)
		file_close(&p->files[fd]);
}

int64_t pipe_create(struct process *p, int fds[2])
{
	struct pipe *pipe = NULL;
	for (unsigned i = 0; i < PIPE_MAX && !pipe; i++)
		if (pipes[i].readers == 0 && pipes[i].writers == 0)
			pipe = &pipes[i];
	if (!pipe)
		return -LX_EMFILE;
	int found = 0;
	for (int fd = 0; fd < PROCESS_FILES && found < 2; fd++)
		if (p->files[fd].kind == FILE_CLOSED)
			fds[found++] = fd;
	if (found < 2)
		return -LX_EMFILE;
	memset(pipe, 0, sizeof(*pipe));
	p->files[fds[0]] = (struct open_file){ .kind = FILE_PIPE_READ, .pipe = pipe };
	p->files[fds[1]] = (struct open_file){ .kind = FILE_PIPE_WRITE, .pipe = pipe };
	pipe->readers = pipe->writers = 1;
	return 0;
}

int64_t pipe_read(struct open_file *f, uint8_t *buf, uint64_t len)
{
	struct pipe *pipe = f->pipe;
	if (pipe->head == pipe->tail)
		return pipe->writers ? -LX_EAGAIN : 0;
	uint64_t n = MIN(len, pipe->head - pipe->tail);
	for (uint64_t i = 0; i < n; i++)
		buf[i] = pipe->ring[(pipe->tail + i) % PIPE_BYTES];
	pipe->tail += n;
	return (int64_t)n;
}

int64_t pipe_write(struct open_file *f, const uint8_t *buf, uint64_t len)
{
	struct pipe *pipe = f->pipe;
	if (!pipe->readers)
		return -32; /* EPIPE (no SIGPIPE: signals are not delivered) */
	uint64_t n = MIN(len, PIPE_BYTES - (pipe->head - pipe->tail));
	if (n == 0)
		return -LX_EAGAIN;
	for (uint64_t i = 0; i < n; i++)
		pipe->ring[(pipe->head + i) % PIPE_BYTES] = buf[i];
	pipe->head += n;
	return (int64_t)n;
}

unsigned file_ready(const struct open_file *f)
{
	switch (f->kind) {
	case FILE_STDIN:
	case FILE_MODULE:
		return POLL_IN;
	case FILE_STDOUT:
	case FILE_STDERR:
		return POLL_OUT;
	case FILE_PIPE_READ:
		return (f->pipe->head != f->pipe->tail ? POLL_IN : 0) | (f->pipe->writers ? 0 : POLL_HUP);
	case FILE_PIPE_WRITE:
		return (f->pipe->head - f->pipe->tail < PIPE_BYTES ? POLL_OUT : 0);
	case FILE_CLOSED:
		break;
	}
	return 0;
}
