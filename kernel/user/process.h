/*
 * User processes: ring-3 programs on demand-paged VMM contexts, run one at a time by a
 * cooperative scheduler (a process runs until it exits, blocks in wait4 or vfork, or is killed:
 * there is no timer, so a run under -icount is deterministic).
 *
 * Each process has its own kernel stack (KSTACK_PAGES, from the kernel heap): TSS.RSP0 and the
 * system-call entry point at its top while the process runs, so a system call that blocks keeps
 * its kernel state there and context_switch (xv6's swtch) moves between stacks. The scheduler
 * runs on the boot stack.
 *
 * Memory is the VMM's: a process's context is created demand paged (vmm_config.demand_paged),
 * with the machine's user layout plus a `program` region holding the executable's segments and
 * the heap right after it; every page fault goes through vmm_fault and therefore through the
 * chosen bookkeeping backend. fork is vmm_context_fork (copy-on-write).
 *
 * Invariants:
 *   - `current` is the process whose context is active and whose kernel stack is in use, or NULL
 *     in the scheduler.
 *   - A ZOMBIE has no context (destroyed at exit) and keeps its slot until its parent reaps it
 *     (or at once when it has no living parent).
 */
#ifndef PAGESCOPE_USER_PROCESS_H
#define PAGESCOPE_USER_PROCESS_H

#include "kernel/exec/cpio_newc.h"
#include "kernel/mm/vmm.h"
#include "kernel/arch/amd64/user_mode.h"

#define PROCESS_MAX 64
#define PROCESS_FILES 32
#define PROCESS_FILE_MAPS 32
#define PROCESS_PATH_MAX 64
#define KSTACK_PAGES 4

enum process_state { PROCESS_FREE, PROCESS_RUNNABLE, PROCESS_WAITING, PROCESS_VFORK_WAITING,
		     PROCESS_ZOMBIE };

enum open_file_kind { FILE_CLOSED, FILE_STDIN, FILE_STDOUT, FILE_STDERR, FILE_MODULE,
		     FILE_PIPE_READ, FILE_PIPE_WRITE };

/*
 * A pipe: PIPE_BYTES in a ring, shared by every fd of either end (a fork or dup adds a
 * reference). Nothing ever blocks on one: a read of an empty pipe whose write end is still open
 * returns -EAGAIN, as a full pipe's write does (programs here use pipes for signal self-wakeup or
 * between processes that run one at a time; poll tells them when to read).
 */
#define PIPE_BYTES 4096
#define PIPE_MAX 16
struct pipe {
	unsigned readers, writers; /* fds open on each end, all processes together; 0 0 = free */
	uint64_t head, tail;       /* bytes written, read */
	uint8_t ring[PIPE_BYTES];
};

/* An open file: per process (a fork copies the table; offsets are not shared, unlike Linux). */
struct open_file {
	enum open_file_kind kind;
	struct cpio_entry entry; /* FILE_STDIN and FILE_MODULE: the bytes read */
	uint64_t offset;
	struct pipe *pipe;       /* FILE_PIPE_*: the pipe */
};

/*
 * A loaded program's address space. A process has two: execve builds the new program in the
 * spare one and destroys the old only once the new one is whole (a context must not move while
 * it lives: it is linked into its family, and its tables point back at it).
 */
struct process_image {
	struct vmm_context ctx;
	struct vmm_region regions[VMM_MAX_REGIONS];
	struct vmm_stack stack;
};

struct process {
	enum process_state state;
	uint32_t pid, parent;
	struct process_image images[2];
	struct process_image *image; /* the running program's; NULL once it exited */
	uint64_t kstack;    /* lowest address of the kernel stack; 0 once freed */
	uint64_t saved_rsp; /* while switched out */
	uint64_t fs_base;
	struct user_fpu_state fpu; /* while switched out */
	uint32_t wait_status;  /* ZOMBIE: what wait4 reports */
	uint32_t vfork_child;  /* VFORK_WAITING: the child whose exec or exit wakes us */
	struct open_file files[PROCESS_FILES];
	/*
	 * Private file mappings: where their bytes come from, so madvise(MADV_DONTNEED) can give the
	 * file's bytes back (Linux refaults them from the page cache; here they are copied again).
	 * An entry goes when any part of its range is unmapped or mapped over.
	 */
	struct file_mapping {
		uint64_t start, end; /* 0 0: unused */
		const uint8_t *data;
		uint64_t size, offset;
	} file_maps[PROCESS_FILE_MAPS];
	char path[PROCESS_PATH_MAX];
	uint64_t peak_resident, peak_reserved; /* pages, for the summary */
	/* The bytes of bookkeeping last traced for this process's context (vmm_bookkeeping), and
	 * which context that was: traced again only when it changes. */
	uint64_t bookkeeping_traced;
	const struct vmm_context *bookkeeping_context;
	uint64_t memory_changes; /* process_note_memory calls: the page-table backend's sampling */
	uint64_t bookkeeping_tables; /* the context's table pages when last looked at */
};

/* The filesystem processes see, and what the run was given; set by the program scenario. */
struct program_world {
	struct cpio_archive archive;
	bool has_stdin;
	struct cpio_entry stdin_entry;
};
extern struct program_world program_world;
extern struct process *current;

/* Prepares the tables and the machine (user_mode_init); call once before process_spawn. */
void process_system_init(void);
/*
 * Ends what a run left behind so the next run of the same boot starts with an empty table: a
 * process still blocked (nothing could wake it) is killed with SIGKILL (a kill report and its
 * process_exit, reason killed_signal) and its context destroyed; zombies nobody reaped are freed.
 * Pids keep counting, so every process of a boot has its own pid in the trace.
 */
void process_end_leftovers(void);
/*
 * Creates the first process from `path` in the module filesystem with argv/envp; on failure
 * writes a one-line reason into why and returns NULL.
 */
struct process *process_spawn(const char *path, const char *const *argv, unsigned argc,
			      const char *const *envp, unsigned envc, char *why, unsigned long why_size);
/* What a run left: the first process's wait status and the peaks over every process. */
struct process_totals {
	uint32_t first_status;
	unsigned processes;
	uint64_t peak_resident, peak_reserved;
};
/* Runs processes until none can run; the first process must have ended by then. */
void process_run_all_until_done(uint32_t first_pid, struct process_totals *totals);

/* Lifecycle (process.c), used by the system calls. */
struct process *process_by_pid(uint32_t pid);
/* Ends the current process with a wait status and reason (trace `process_exit_reason`); never returns. */
NORETURN void process_exit(struct process *p, uint32_t wait_status, unsigned reason);
/* fork: a copy-on-write child returning 0 in rax; its pid, or a negative errno. */
int64_t process_fork(struct process *p, const struct exception_frame *frame, bool vfork,
		     uint64_t child_tid_addr, bool set_child_tid);
/* execve of `path` in place of the current program; 0 (the frame now starts the new program) or -errno. */
int64_t process_exec(struct process *p, struct exception_frame *frame, const char *path,
		     const char *const *argv, unsigned argc, const char *const *envp, unsigned envc);
/* wait4: blocks until a matching child is a zombie; its pid, 0 (WNOHANG), or -errno. */
int64_t process_wait(struct process *p, int64_t pid, uint32_t *status, bool no_hang);

/* A user page fault (or one a system call takes on the program's behalf): resolved or not. */
bool process_fault(struct process *p, uint64_t addr, enum vmm_fault_kind kind, uint64_t rip,
		   struct vmm_fault_result *result);
/* Traces the process's resident and reserved pages (after a change) and keeps their peaks. */
void process_note_memory(struct process *p);

/* The program's memory through its own page tables: 0 or -EFAULT (user_memory.c). */
int64_t copy_from_user(struct process *p, void *dst, uint64_t src, uint64_t len);
int64_t copy_to_user(struct process *p, uint64_t dst, const void *src, uint64_t len);
/*
 * Writes into an address space's reserved pages as the kernel (a loaded file's bytes, the initial
 * stack, a file mapping, pages mremap moves), mapping each page first with what its reservation
 * allows: 0 or -ENOMEM (user_memory.c).
 */
int64_t image_write(struct vmm_context *ctx, uint64_t va, const void *src, uint64_t len);
/* A NUL-terminated string of at most max - 1 bytes: its length, -EFAULT or -ENAMETOOLONG. */
int64_t string_from_user(struct process *p, char *dst, uint64_t src, uint64_t max);

/*
 * Program loading (program_load.c): creates `image` (a demand-paged context with the program's
 * segments, heap region and stack) for process p, and points `frame` at its entry. 0, or a
 * negative errno with nothing left of the image and a one-line reason in why.
 */
int64_t program_load(struct process *p, struct process_image *image, const char *path,
		     const char *const *argv, unsigned argc, const char *const *envp, unsigned envc,
		     struct exception_frame *frame, char *why, unsigned long why_size);

/* Files (process_files.c). */
void files_init_standard(struct process *p);
void files_close_all(struct process *p);
/* The fds of a new process refer to the same pipes: one more reference each (fork). */
void files_share(struct process *p);
void file_close(struct open_file *f);
/* Another fd for the same open file (dup): one more reference to its pipe. */
void file_duplicate(struct open_file *to, const struct open_file *from);
/* pipe(): two fds; 0 or -errno. */
int64_t pipe_create(struct process *p, int fds[2]);
int64_t pipe_read(struct open_file *f, uint8_t *buf, uint64_t len);
int64_t pipe_write(struct open_file *f, const uint8_t *buf, uint64_t len);
/* What poll would report now: POLLIN (1) / POLLOUT (4) / POLLHUP (16) bits the file is ready for. */
unsigned file_ready(const struct open_file *f);

/* Deterministic bytes for getrandom and AT_RANDOM (seeded by `seed=`). */
void program_random_bytes(void *buf, uint64_t len);

/*
 * Counters for the run's summary: system calls by number, faults by outcome, and the bytes written
 * to the stdout and stderr ports (the harness splits a boot's streams into its runs by them).
 */
struct program_counters {
	uint64_t syscalls[512];
	uint64_t unsupported[512];
	uint64_t faults[16];
	uint64_t stdout_bytes, stderr_bytes;
};
extern struct program_counters program_counters;

/* Linux errno values the system calls return (negated). */
enum {
	LX_EPERM = 1, LX_ENOENT = 2, LX_ESRCH = 3, LX_EINTR = 4, LX_EIO = 5, LX_E2BIG = 7,
	LX_ENOEXEC = 8, LX_EBADF = 9, LX_ECHILD = 10, LX_EAGAIN = 11, LX_ENOMEM = 12,
	LX_EACCES = 13, LX_EFAULT = 14, LX_EEXIST = 17, LX_ENOTDIR = 20, LX_EISDIR = 21,
	LX_EINVAL = 22, LX_EMFILE = 24, LX_ENOTTY = 25, LX_ESPIPE = 29, LX_EROFS = 30,
	LX_ERANGE = 34, LX_ENAMETOOLONG = 36, LX_ENOSYS = 38,
};

#endif
