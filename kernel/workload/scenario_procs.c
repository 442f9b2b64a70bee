/*
 * procs: simulated processes over the VMM, as a Unix kernel would drive it. Each process is a
 * user context with
 *   - an image: text (read+execute) and data (read+write) of the program and of two libraries,
 *     each pair one reservation in the libraries region;
 *   - a stack: 8 MiB reserved in the stacks region, its top pages mapped, growing downwards;
 *   - a heap grown and shrunk with brk;
 *   - anonymous mappings of varied sizes and lifetimes in the mmap region;
 *   - shared memory attached in two processes at once.
 * The run stage picks a process and an operation per step; a different process than the last one
 * is switched to first (a context switch). Processes exit and new ones start during the run, so
 * contexts are created and destroyed throughout. Stages: spawn, run, exit.
 *
 * Sizes are in units of memory_pages / 4096 pages (4 pages at 64 MiB, 1024 at 16 GiB).
 */
#include "scenario.h"
#include "kernel/core/memory.h"

#define PROCS_LIVE 8
#define PROCS_ANON 24
#define PROCS_SHM 4
#define STACK_RESERVED_PAGES 2048 /* 8 MiB, like a Linux main thread's stack limit */
#define USER_TEXT (PT_READ | PT_EXECUTE | PT_USER)
#define USER_RO (PT_READ | PT_USER)
#define USER_RW (PT_READ | PT_WRITE | PT_USER)

struct anon_mapping {
	uint64_t addr, pages; /* pages == 0: slot unused */
	unsigned prot;
};

struct process {
	bool live;
	struct vmm_context ctx;
	struct anon_mapping anon[PROCS_ANON];
	uint64_t stack_base;   /* lowest address of the stack reservation */
	uint64_t stack_mapped; /* pages mapped at its top */
};

struct shared_object {
	bool live;
	struct vmm_shm shm;
	unsigned proc[2];
	uint64_t addr[2];
};

static struct process procs[PROCS_LIVE];
static struct shared_object shared[PROCS_SHM];
static struct process *current;

/* Out of memory or space is an outcome; any other status from these calls is an error. */
static bool outcome(struct scenario_run *run, enum vm_status st, const char *what)
{
	if (st != VM_OK && st != VM_ERR_NO_MEMORY && st != VM_ERR_NO_SPACE)
		scenario_error(run, "%s: %s", what, vm_status_name(st));
	return scenario_outcome(run, st == VM_OK);
}

static void expect_ok(struct scenario_run *run, enum vm_status st, const char *what)
{
	if (st != VM_OK)
		scenario_error(run, "%s: %s", what, vm_status_name(st));
}

static uint64_t unit_pages(const struct scenario_run *run)
{
	return MAX(1, run->memory_pages / 4096);
}

static void switch_to(struct process *p)
{
	if (current != p) {
		vmm_context_activate(&p->ctx);
		current = p;
	}
}

/* A program or library image: text then data, one reservation, each part mapped. */
static void map_image(struct scenario_run *run, struct process *p, uint64_t max_pages)
{
	uint64_t text = rng_log_uniform(&run->rng, 1, max_pages);
	uint64_t data = rng_log_uniform(&run->rng, 1, MAX(1, max_pages / 4));
	uint64_t addr;
	if (!outcome(run, vmm_reserve(&p->ctx, VMM_UREGION_LIBRARIES, text + data, 1, &addr),
		     "reserve image"))
		return;
	outcome(run, vmm_map_anonymous(&p->ctx, addr, text, USER_TEXT), "map text");
	outcome(run, vmm_map_anonymous(&p->ctx, addr + text * PAGE_SIZE, data, USER_RW), "map data");
}

static void grow_stack(struct scenario_run *run, struct process *p, uint64_t pages)
{
	pages = MIN(pages, STACK_RESERVED_PAGES - p->stack_mapped);
	if (!pages)
		return;
	uint64_t top = p->stack_base + (STACK_RESERVED_PAGES - p->stack_mapped) * PAGE_SIZE;
	if (outcome(run, vmm_map_anonymous(&p->ctx, top - pages * PAGE_SIZE, pages, USER_RW),
		    "grow stack"))
		p->stack_mapped += pages;
}

static void spawn(struct scenario_run *run, struct process *p)
{
	uint64_t unit = unit_pages(run);
	*p = (struct process){ 0 };
	if (!outcome(run, memory_user_context_create(&p->ctx), "create context"))
		return;
	p->live = true;
	map_image(run, p, 4 * unit);     /* the program */
	for (int lib = 0; lib < 2; lib++)
		map_image(run, p, 2 * unit); /* two shared libraries */
	if (outcome(run, vmm_reserve(&p->ctx, VMM_UREGION_STACKS, STACK_RESERVED_PAGES, 1,
				     &p->stack_base), "reserve stack"))
		grow_stack(run, p, rng_between(&run->rng, 1, 4));
	else
		p->stack_mapped = STACK_RESERVED_PAGES; /* no stack: never grown */
}

static void release_shared(struct scenario_run *run, struct shared_object *s)
{
	for (int i = 0; i < 2; i++)
		expect_ok(run, vmm_shm_detach(&procs[s->proc[i]].ctx, s->addr[i]), "shm detach");
	vmm_shm_put(&s->shm);
	s->live = false;
}

static void exit_process(struct scenario_run *run, struct process *p)
{
	for (unsigned i = 0; i < PROCS_SHM; i++)
		if (shared[i].live && (&procs[shared[i].proc[0]] == p || &procs[shared[i].proc[1]] == p))
			release_shared(run, &shared[i]);
	if (current == p) {
		vmm_context_activate(&kernel_vmm);
		current = NULL;
	}
	vmm_context_destroy(&p->ctx);
	p->live = false;
}

static void anon_map(struct scenario_run *run, struct process *p)
{
	struct anon_mapping *m = &p->anon[rng_below(&run->rng, PROCS_ANON)];
	uint64_t pages = rng_log_uniform(&run->rng, 1, 8 * unit_pages(run));
	if (m->pages) /* the slot is taken: that mapping's lifetime ends now */
		expect_ok(run, vmm_release(&p->ctx, m->addr, m->pages), "munmap");
	*m = (struct anon_mapping){ 0 };
	uint64_t addr;
	if (!outcome(run, vmm_reserve(&p->ctx, VMM_UREGION_MMAP, pages, 1, &addr), "mmap reserve"))
		return;
	if (outcome(run, vmm_map_anonymous(&p->ctx, addr, pages, USER_RW), "mmap map"))
		*m = (struct anon_mapping){ addr, pages, USER_RW };
	else /* reserved but not backed: give the range back */
		expect_ok(run, vmm_release(&p->ctx, addr, pages), "mmap undo");
}

static void anon_unmap(struct scenario_run *run, struct process *p)
{
	struct anon_mapping *m = &p->anon[rng_below(&run->rng, PROCS_ANON)];
	if (m->pages)
		expect_ok(run, vmm_release(&p->ctx, m->addr, m->pages), "munmap");
	*m = (struct anon_mapping){ 0 };
}

static void anon_protect(struct scenario_run *run, struct process *p)
{
	struct anon_mapping *m = &p->anon[rng_below(&run->rng, PROCS_ANON)];
	if (!m->pages)
		return;
	m->prot = m->prot == USER_RW ? USER_RO : USER_RW;
	expect_ok(run, vmm_protect(&p->ctx, m->addr, m->pages, m->prot), "mprotect");
}

static void move_brk(struct scenario_run *run, struct process *p)
{
	uint64_t current_break, heap_base = p->ctx.regions[VMM_UREGION_HEAP].base;
	vmm_brk(&p->ctx, 0, &current_break);
	uint64_t heap = current_break - heap_base;
	uint64_t target = rng_percent(&run->rng, 70)
				  ? heap + rng_between(&run->rng, 1, 2 * unit_pages(run) * PAGE_SIZE)
				  : heap / 2;
	outcome(run, vmm_brk(&p->ctx, heap_base + target, &current_break), "brk");
}

static void share(struct scenario_run *run)
{
	struct shared_object *s = &shared[rng_below(&run->rng, PROCS_SHM)];
	unsigned a = (unsigned)rng_below(&run->rng, PROCS_LIVE), b = (unsigned)rng_below(&run->rng, PROCS_LIVE);
	uint64_t pages = rng_between(&run->rng, 1, unit_pages(run));
	if (s->live)
		release_shared(run, s);
	if (a == b || !procs[a].live || !procs[b].live)
		return;
	if (!outcome(run, vmm_shm_create(&s->shm, &kernel_page_source, pages), "shm create"))
		return;
	s->proc[0] = a, s->proc[1] = b;
	bool first = outcome(run, vmm_shm_attach(&procs[a].ctx, &s->shm, USER_RW, &s->addr[0]), "shm attach");
	bool second = first && outcome(run, vmm_shm_attach(&procs[b].ctx, &s->shm, USER_RW, &s->addr[1]),
				       "shm attach");
	if (second) {
		s->live = true;
		return;
	}
	if (first)
		expect_ok(run, vmm_shm_detach(&procs[a].ctx, s->addr[0]), "shm detach");
	vmm_shm_put(&s->shm);
}

static void step(struct scenario_run *run)
{
	struct process *p = &procs[rng_below(&run->rng, PROCS_LIVE)];
	unsigned op = (unsigned)rng_below(&run->rng, 100);
	if (!p->live) { /* an empty slot: a new process starts there */
		spawn(run, p);
		return;
	}
	switch_to(p);
	if (op < 30)
		anon_map(run, p);
	else if (op < 50)
		anon_unmap(run, p);
	else if (op < 65)
		move_brk(run, p);
	else if (op < 75)
		anon_protect(run, p);
	else if (op < 85)
		grow_stack(run, p, rng_between(&run->rng, 1, 4));
	else if (op < 95)
		share(run);
	else
		exit_process(run, p);
}

void scenario_procs(struct scenario_run *run)
{
	current = NULL;
	for (unsigned i = 0; i < PROCS_SHM; i++)
		shared[i].live = false;
	scenario_stage_begin(run, "spawn");
	for (unsigned i = 0; i < PROCS_LIVE; i++)
		spawn(run, &procs[i]);
	scenario_stage_end(run, "spawn");
	scenario_stage_begin(run, "run");
	for (unsigned i = 0; i < 3000; i++)
		step(run);
	scenario_stage_end(run, "run");
	scenario_stage_begin(run, "exit");
	for (unsigned i = 0; i < PROCS_LIVE; i++)
		if (procs[i].live)
			exit_process(run, &procs[i]);
	if (current)
		vmm_context_activate(&kernel_vmm);
	current = NULL;
	scenario_stage_end(run, "exit");
}
