/*
 * Process lifecycle and the scheduler (process.h says the model). Work: the scheduler scans the
 * PROCESS_MAX slots once per switch; fork is vmm_context_fork; exit destroys the context.
 */
#include "process.h"
#include "kernel/arch/amd64/cpu.h"
#include "kernel/arch/amd64/exceptions.h"
#include "kernel/arch/amd64/vm.h"
#include "kernel/core/log.h"
#include "kernel/core/memory.h"
#include "kernel/lib/format.h"
#include "kernel/trace/tracepoints.h"

#define KSTACK_BYTES (KSTACK_PAGES * PAGE_SIZE)
#define SIGNAL_ILL 4
#define SIGNAL_TRAP 5
#define SIGNAL_FPE 8
#define SIGNAL_KILL 9
#define SIGNAL_SEGV 11
/* The page-table backend's bookkeeping is traced at every this many changes of a process's pages
 * (process_note_memory says why; analyzer/pictures/program_plots.py's caption repeats it). */
#define BOOKKEEPING_SAMPLE_EVERY 64

struct program_world program_world;
struct program_counters program_counters;
struct process *current;

static struct process table[PROCESS_MAX];
static uint32_t next_pid = 1;
static uint64_t scheduler_rsp;
static unsigned last_run;

void process_system_init(void)
{
	user_mode_init();
	user_exception_handler = NULL;
	memset(table, 0, sizeof(table));
	next_pid = 1;
	last_run = 0;
}

struct process *process_by_pid(uint32_t pid)
{
	for (unsigned i = 0; i < PROCESS_MAX; i++)
		if (table[i].state != PROCESS_FREE && table[i].pid == pid)
			return &table[i];
	return NULL;
}

static struct process *new_slot(void)
{
	for (unsigned i = 0; i < PROCESS_MAX; i++)
		if (table[i].state == PROCESS_FREE) {
			struct process *p = &table[i];
			memset(p, 0, sizeof(*p));
			return p;
		}
	return NULL;
}

static bool kstack_alloc(struct process *p)
{
	uint64_t addr;
	if (vmm_alloc(&kernel_vmm, VMM_KREGION_HEAP, KSTACK_PAGES, PT_READ | PT_WRITE, &addr) != VM_OK)
		return false;
	p->kstack = addr;
	return true;
}

static void kstack_free(struct process *p)
{
	if (p->kstack) {
		vmm_release(&kernel_vmm, p->kstack, KSTACK_PAGES);
		p->kstack = 0;
	}
}

static uint64_t kstack_top(const struct process *p)
{
	return p->kstack + KSTACK_BYTES;
}

void process_note_memory(struct process *p)
{
	struct vmm_context *ctx = &p->image->ctx;
	uint64_t resident = ctx->pt.mapped_pages, reserved = ctx->reserved_pages;
	p->peak_resident = MAX(p->peak_resident, resident);
	p->peak_reserved = MAX(p->peak_reserved, reserved);
	trace_process_resident(resident, reserved, p->pid, ctx->pt.trace_context);
	/*
	 * The backend's bookkeeping bytes right after, when they changed, so a program's bookkeeping
	 * is a series over its run and not only a figure at the phase snapshots; only while tracing.
	 * The list backend's figure is a counter: looked at on every change of the pages. The
	 * page-table backend's is a walk of every table of the context (tens of thousands of
	 * instructions: on every change it doubled a traced lua run's guest time), so it is looked
	 * at on the first change of a context, whenever the context's count of table pages changed
	 * (most of its changes come with a table made or freed) and every
	 * BOOKKEEPING_SAMPLE_EVERY-th change: a sample, which can miss a table that starts or
	 * stops mapping in between.
	 */
	p->memory_changes++;
	bool sampled = ctx->backend == &vmm_backend_pagetable;
	if (trace_enabled && (p->bookkeeping_context != ctx || !sampled ||
			      p->bookkeeping_tables != ctx->pt.table_pages ||
			      p->memory_changes % BOOKKEEPING_SAMPLE_EVERY == 0)) {
		uint64_t bytes = vmm_bookkeeping_bytes(ctx);
		p->bookkeeping_tables = ctx->pt.table_pages;
		if (p->bookkeeping_context != ctx || p->bookkeeping_traced != bytes) {
			trace_vmm_bookkeeping(bytes, ctx->pt.trace_context);
			p->bookkeeping_context = ctx;
			p->bookkeeping_traced = bytes;
		}
	}
}

/* --- the scheduler ---------------------------------------------------------------------------- */

static void switch_to(struct process *p)
{
	current = p;
	vmm_context_activate(&p->image->ctx);
	user_set_kernel_stack(kstack_top(p));
	user_set_fs_base(p->fs_base);
	user_fpu_restore(&p->fpu);
	context_switch(&scheduler_rsp, p->saved_rsp);
	user_fpu_save(&p->fpu);
	current = NULL;
	vmm_context_activate(&kernel_vmm);
	if (p->state == PROCESS_ZOMBIE) {
		kstack_free(p); /* it was running on it until the switch */
		if (!process_by_pid(p->parent) || process_by_pid(p->parent)->state == PROCESS_ZOMBIE)
			p->state = PROCESS_FREE; /* nobody will reap it */
	}
}

/* Gives the CPU back to the scheduler; returns when this process is switched to again. */
static void yield(struct process *p)
{
	context_switch(&p->saved_rsp, scheduler_rsp);
}

static struct process_totals totals;
static uint32_t first_pid_of_run;

void process_run_all_until_done(uint32_t first_pid, struct process_totals *out)
{
	totals = (struct process_totals){ .first_status = 0xFFFF };
	first_pid_of_run = first_pid;
	for (;;) {
		struct process *next = NULL;
		for (unsigned k = 1; k <= PROCESS_MAX && !next; k++) {
			struct process *p = &table[(last_run + k) % PROCESS_MAX];
			if (p->state == PROCESS_RUNNABLE)
				next = p;
		}
		if (!next)
			break;
		last_run = (unsigned)(next - table);
		switch_to(next);
	}
	for (unsigned i = 0; i < PROCESS_MAX; i++) /* blocked forever: nothing can wake them */
		if (table[i].state == PROCESS_WAITING || table[i].state == PROCESS_VFORK_WAITING)
			kprintf("program: pid %u is still blocked with nothing left to run\n", table[i].pid);
	*out = totals;
}

void process_end_leftovers(void)
{
	for (unsigned i = 0; i < PROCESS_MAX; i++) {
		struct process *p = &table[i];
		if (p->state == PROCESS_ZOMBIE) {
			p->state = PROCESS_FREE;
			continue;
		}
		if (p->state != PROCESS_WAITING && p->state != PROCESS_VFORK_WAITING)
			continue;
		kprintf("program: pid %u killed by signal %u (SIGKILL): still blocked when its run ended\n",
			p->pid, SIGNAL_KILL);
		trace_process_exit(p->pid, SIGNAL_KILL, p->image->ctx.pt.trace_context,
				   PROCESS_EXIT_KILLED_SIGNAL);
		files_close_all(p);
		vmm_context_destroy(&p->image->ctx);
		p->image = NULL;
		kstack_free(p);
		p->state = PROCESS_FREE;
	}
}

/* --- exceptions from user mode ---------------------------------------------------------------- */

static const char *const fault_outcome_words[] = {
	[VMM_FAULT_REFUSED_OUTSIDE] = "the address is outside every region",
	[VMM_FAULT_REFUSED_FREE] = "the address is not reserved",
	[VMM_FAULT_REFUSED_PROTECTION] = "the reservation does not allow this access",
	[VMM_FAULT_OUT_OF_MEMORY] = "out of memory while resolving the fault",
};

static const char *access_words(enum vmm_fault_kind kind)
{
	return kind == VMM_FAULT_WRITE ? "write to" : kind == VMM_FAULT_EXECUTE ? "execute at" : "read from";
}

static void access_text(unsigned access, char *buf)
{
	if (!(access & PT_READ)) {
		memcpy(buf, "none", 5);
		return;
	}
	buf[0] = 'r';
	buf[1] = access & PT_WRITE ? 'w' : '-';
	buf[2] = access & PT_EXECUTE ? 'x' : '-';
	buf[3] = access & VMM_ACCESS_SHARED ? 's' : 'p';
	buf[4] = 0;
}

static NORETURN void kill_process(struct process *p, unsigned signal, unsigned reason,
				  const char *what)
{
	kprintf("program: pid %u killed by signal %u (%s): %s\n", p->pid, signal,
		signal == SIGNAL_SEGV ? "SIGSEGV" : signal == SIGNAL_KILL ? "SIGKILL" :
		signal == SIGNAL_ILL ? "SIGILL" : signal == SIGNAL_FPE ? "SIGFPE" : "SIGTRAP", what);
	process_exit(p, signal, reason);
}

bool process_fault(struct process *p, uint64_t addr, enum vmm_fault_kind kind, uint64_t rip,
		   struct vmm_fault_result *result)
{
	uint64_t start = user_clock_ticks();
	vmm_fault(&p->image->ctx, addr, kind, &p->image->stack, result);
	uint64_t ticks = user_clock_ticks() - start;
	program_counters.faults[result->outcome]++;
	trace_page_fault(addr, rip, p->pid, (uint32_t)result->lookup_work, (uint32_t)ticks,
			 (uint32_t)result->lookup_ticks, p->image->ctx.pt.trace_context, (uint8_t)kind,
			 (uint8_t)result->outcome);
	bool resolved = result->outcome == VMM_FAULT_ZERO_FILL || result->outcome == VMM_FAULT_COW_COPY ||
			result->outcome == VMM_FAULT_COW_REUSE || result->outcome == VMM_FAULT_STACK_GROW ||
			result->outcome == VMM_FAULT_SPURIOUS;
	if (resolved && result->outcome != VMM_FAULT_SPURIOUS)
		process_note_memory(p);
	return resolved;
}

static void user_exception(struct exception_frame *f)
{
	struct process *p = current;
	MM_ASSERT(p != NULL, "user_exception: no current process");
	char what[200];
	if (f->vector == VECTOR_PAGE_FAULT) {
		uint64_t addr = read_cr2();
		enum vmm_fault_kind kind = (f->error_code & PF_INSTRUCTION_FETCH) ? VMM_FAULT_EXECUTE :
					   (f->error_code & PF_WRITE)             ? VMM_FAULT_WRITE :
										    VMM_FAULT_READ;
		struct vmm_fault_result r;
		if (process_fault(p, addr, kind, f->rip, &r))
			return; /* the instruction runs again */
		char access[8];
		access_text(r.access, access);
		const char *region = r.region == VMM_NO_REGION ? "no region" : p->image->regions[r.region].name;
		ksnprintf(what, sizeof(what), "%s %#lx at rip %#lx: %s (bookkeeping: %s page, %s, access %s)",
			  access_words(kind), addr, f->rip, fault_outcome_words[r.outcome],
			  r.state == VMM_PAGE_OUTSIDE ? "no" : r.state == VMM_PAGE_FREE ? "free" :
			  r.state == VMM_PAGE_MAPPED ? "mapped" : "reserved, unmapped", region, access);
		if (r.outcome == VMM_FAULT_OUT_OF_MEMORY)
			kill_process(p, SIGNAL_KILL, PROCESS_EXIT_KILLED_OUT_OF_MEMORY, what);
		kill_process(p, SIGNAL_SEGV, PROCESS_EXIT_KILLED_FAULT, what);
	}
	unsigned signal = f->vector == 6 ? SIGNAL_ILL : f->vector == 0 ? SIGNAL_FPE :
			  f->vector == 3 || f->vector == 1 ? SIGNAL_TRAP : SIGNAL_SEGV;
	ksnprintf(what, sizeof(what), "CPU exception %lu (error code %#lx) at rip %#lx", f->vector,
		  f->error_code, f->rip);
	kill_process(p, signal, PROCESS_EXIT_KILLED_EXCEPTION, what);
}

/* --- creation --------------------------------------------------------------------------------- */

/* A slot with a kernel stack whose user frame enters the program user_frame_init set up. */
static struct process *new_process(uint32_t parent)
{
	struct process *p = new_slot();
	if (!p)
		return NULL;
	if (!kstack_alloc(p))
		return NULL;
	p->pid = next_pid++;
	p->parent = parent;
	return p;
}

struct process *process_spawn(const char *path, const char *const *argv, unsigned argc,
			      const char *const *envp, unsigned envc, char *why, unsigned long why_size)
{
	user_exception_handler = user_exception;
	struct process *p = new_process(0);
	if (!p) {
		ksnprintf(why, why_size, "no memory for the first process's kernel stack");
		return NULL;
	}
	files_init_standard(p);
	struct exception_frame *frame = user_frame_of(kstack_top(p));
	int64_t st = program_load(p, &p->images[0], path, argv, argc, envp, envc, frame, why, why_size);
	if (st < 0) {
		kstack_free(p);
		p->state = PROCESS_FREE;
		return NULL;
	}
	p->image = &p->images[0];
	user_fpu_reset();
	user_fpu_save(&p->fpu);
	trace_process_start(p->pid, 0, p->image->ctx.pt.trace_context, PROCESS_START_SPAWN, p->path);
	process_note_memory(p);
	p->saved_rsp = user_stack_first_entry(kstack_top(p));
	p->state = PROCESS_RUNNABLE;
	return p;
}

int64_t process_fork(struct process *p, const struct exception_frame *frame, bool vfork,
		     uint64_t child_tid_addr, bool set_child_tid)
{
	struct process *c = new_process(p->pid);
	if (!c)
		return -LX_EAGAIN;
	c->image = &c->images[0];
	memcpy(c->image->regions, p->image->regions, sizeof(c->image->regions));
	c->image->stack = p->image->stack;
	enum vm_status st = vmm_context_fork(&c->image->ctx, &p->image->ctx, c->image->regions);
	if (st != VM_OK) {
		kstack_free(c);
		c->state = PROCESS_FREE;
		next_pid--;
		return st == VM_ERR_NO_MEMORY ? -LX_ENOMEM : -LX_EAGAIN;
	}
	memcpy(c->path, p->path, sizeof(c->path));
	memcpy(c->files, p->files, sizeof(c->files));
	memcpy(c->file_maps, p->file_maps, sizeof(c->file_maps));
	files_share(c);
	c->fs_base = p->fs_base;
	user_fpu_save(&c->fpu); /* the parent's registers, as the child inherits them */
	trace_process_start(c->pid, p->pid, c->image->ctx.pt.trace_context, PROCESS_START_FORK, c->path);
	struct exception_frame *cf = user_frame_of(kstack_top(c));
	*cf = *frame;
	cf->rax = 0;
	c->saved_rsp = user_stack_first_entry(kstack_top(c));
	c->state = PROCESS_RUNNABLE;
	if (set_child_tid) {
		uint32_t tid = c->pid;
		copy_to_user(c, child_tid_addr, &tid, sizeof(tid));
	}
	process_note_memory(c);
	process_note_memory(p);
	if (vfork) { /* the parent sleeps until the child execs or exits */
		p->vfork_child = c->pid;
		p->state = PROCESS_VFORK_WAITING;
		yield(p);
	}
	return c->pid;
}

int64_t process_exec(struct process *p, struct exception_frame *frame, const char *path,
		     const char *const *argv, unsigned argc, const char *const *envp, unsigned envc)
{
	struct process_image *old = p->image;
	struct process_image *fresh = old == &p->images[0] ? &p->images[1] : &p->images[0];
	struct exception_frame saved = *frame;
	char old_path[PROCESS_PATH_MAX], why[160];
	memcpy(old_path, p->path, sizeof(old_path));
	int64_t st = program_load(p, fresh, path, argv, argc, envp, envc, frame, why, sizeof(why));
	if (st < 0) {
		memcpy(p->path, old_path, sizeof(old_path));
		*frame = saved;
		vmm_context_activate(&old->ctx);
		kprintf("program: pid %u: execve %s refused: %s\n", p->pid, path, why);
		return st;
	}
	p->image = fresh;
	memset(p->file_maps, 0, sizeof(p->file_maps));
	vmm_context_activate(&fresh->ctx);
	vmm_context_destroy(&old->ctx);
	p->fs_base = 0;
	user_set_fs_base(0);
	user_fpu_reset();
	trace_process_start(p->pid, p->parent, fresh->ctx.pt.trace_context, PROCESS_START_EXEC, p->path);
	process_note_memory(p);
	struct process *parent = process_by_pid(p->parent);
	if (parent && parent->state == PROCESS_VFORK_WAITING && parent->vfork_child == p->pid)
		parent->state = PROCESS_RUNNABLE;
	return 0;
}

NORETURN void process_exit(struct process *p, uint32_t wait_status, unsigned reason)
{
	trace_process_exit(p->pid, wait_status, p->image->ctx.pt.trace_context, (uint8_t)reason);
	totals.processes++;
	totals.peak_resident = MAX(totals.peak_resident, p->peak_resident);
	totals.peak_reserved = MAX(totals.peak_reserved, p->peak_reserved);
	if (p->pid == first_pid_of_run)
		totals.first_status = wait_status;
	files_close_all(p);
	vmm_context_activate(&kernel_vmm);
	vmm_context_destroy(&p->image->ctx);
	p->image = NULL;
	p->wait_status = wait_status;
	p->state = PROCESS_ZOMBIE;
	for (unsigned i = 0; i < PROCESS_MAX; i++) { /* orphans: nobody will wait for them */
		struct process *c = &table[i];
		if (c->state != PROCESS_FREE && c->parent == p->pid) {
			c->parent = 0;
			if (c->state == PROCESS_ZOMBIE && !c->kstack)
				c->state = PROCESS_FREE;
		}
	}
	struct process *parent = process_by_pid(p->parent);
	if (parent && (parent->state == PROCESS_WAITING ||
		       (parent->state == PROCESS_VFORK_WAITING && parent->vfork_child == p->pid)))
		parent->state = PROCESS_RUNNABLE;
	yield(p);
	panic("process_exit: pid %u was switched to after its exit", p->pid);
}

int64_t process_wait(struct process *p, int64_t pid, uint32_t *status, bool no_hang)
{
	for (;;) {
		bool any = false;
		for (unsigned i = 0; i < PROCESS_MAX; i++) {
			struct process *c = &table[i];
			if (c->state == PROCESS_FREE || c->parent != p->pid || (pid > 0 && c->pid != (uint32_t)pid))
				continue;
			any = true;
			if (c->state == PROCESS_ZOMBIE && !c->kstack) {
				*status = c->wait_status;
				uint32_t reaped = c->pid;
				c->state = PROCESS_FREE;
				return reaped;
			}
		}
		if (!any)
			return -LX_ECHILD;
		if (no_hang)
			return 0;
		p->state = PROCESS_WAITING;
		yield(p);
	}
}
