/*
 * replay: the memory behaviour of a recorded program (a workload file, trace/WORKLOAD.md, given
 * as the first multiboot2 module) replayed on the kernel's VMM. The file is validated whole
 * first (workload_file.c): a truncated or malformed file is refused with its offset and nothing
 * is replayed.
 *
 * Each process of the file becomes a user context (fork: a new context with a copy of the
 * parent's reservations, mappings and break; exec: a fresh context). Each op is one replay_op
 * event with its outcome, between the allocator events it caused. Mappings are eager (there are
 * no page faults to fill them later): a mapped range gets zeroed pages at once; a range mapped
 * with no access is only reserved.
 *
 * Addresses: a range the program got is kept when it lies inside one of the user regions other
 * than the heap (mmap, shared memory, libraries, stacks) and is free there; otherwise the VMM
 * places it in the mmap region. Either way the program's range is remembered as pieces
 * {program range -> kernel address, reservation}, so later calls on the same range (unmap,
 * protect, remap, a partial unmap that splits a mapping) find it. A reservation is released when
 * its last piece is unmapped; a map wholly inside one reservation's pieces replaces them in place. Refusals (out of memory or space, W^X, a full piece table) are
 * outcomes recorded in replay_op.status; the replay carries on.
 */
#include "scenario.h"
#include "workload_file.h"
#include "kernel/core/boot.h"
#include "kernel/core/log.h"
#include "kernel/core/memory.h"
#include "kernel/lib/string.h"
#include "kernel/trace/tracepoints.h"

#define REPLAY_LIVE 48          /* contexts live at once */
#define REPLAY_PIECES 512
#define REPLAY_RESERVATIONS 256
#define NO_SLOT 0xFFFFu

/* replay_op.status carries a vm_status as events.def's replay_op_status names it. */
#define REPLAY_STATUS_AGREES(vm, replay) _Static_assert((int)vm == (int)replay, #vm " is " #replay);
REPLAY_STATUS_AGREES(VM_OK, REPLAY_DONE)
REPLAY_STATUS_AGREES(VM_ERR_NO_MEMORY, REPLAY_NO_MEMORY)
REPLAY_STATUS_AGREES(VM_ERR_INVALID, REPLAY_INVALID)
REPLAY_STATUS_AGREES(VM_ERR_WRITE_EXECUTE, REPLAY_WRITE_EXECUTE)
REPLAY_STATUS_AGREES(VM_ERR_EXISTS, REPLAY_EXISTS)
REPLAY_STATUS_AGREES(VM_ERR_NOT_MAPPED, REPLAY_NOT_MAPPED)
REPLAY_STATUS_AGREES(VM_ERR_BUSY, REPLAY_BUSY)
REPLAY_STATUS_AGREES(VM_ERR_NO_SPACE, REPLAY_NO_SPACE)
REPLAY_STATUS_AGREES(VM_ERR_NOT_RESERVED, REPLAY_NOT_RESERVED)
REPLAY_STATUS_AGREES(VM_ERR_NOT_RESERVATION_START, REPLAY_NOT_RESERVATION_START)
REPLAY_STATUS_AGREES(VM_ERR_WRONG_LENGTH, REPLAY_WRONG_LENGTH)
REPLAY_STATUS_AGREES(VM_ERR_DOUBLE_FREE, REPLAY_DOUBLE_FREE)
REPLAY_STATUS_AGREES(VM_ERR_FOREIGN_POINTER, REPLAY_FOREIGN_POINTER)
#define VM_STATUS_COUNT_ONE(e, text) +1
_Static_assert(0 VM_STATUS_LIST(VM_STATUS_COUNT_ONE) == REPLAY_FOREIGN_POINTER + 1,
	       "every vm_status has a replay_op_status name");

struct piece {
	uint64_t start, end; /* the program's addresses */
	uint64_t kern;       /* where start lies in the context */
	uint16_t res;        /* its reservation */
	uint8_t prot;        /* WORKLOAD_PROT_* */
	bool mapped;         /* backed by pages (prot != 0) */
};

struct reservation {
	uint64_t base, pages;
	uint32_t pieces; /* 0: unused */
};

struct replay_process {
	bool used;
	struct vmm_context ctx;
	unsigned piece_count;
	struct piece pieces[REPLAY_PIECES];
	struct reservation res[REPLAY_RESERVATIONS];
};

/*
 * The live processes' slots, in pages taken when a replay starts and given back when it ends
 * (scenario_replay): 48 slots are about 1.1 MiB, which as a static array sat in the kernel image's
 * .bss and raised the guest memory GRUB needs to load the kernel (README, exit status 123).
 */
static struct replay_process *slots;
#define SLOTS_PAGES (ALIGN_UP(sizeof(struct replay_process) * REPLAY_LIVE, PAGE_SIZE) / PAGE_SIZE)
static uint16_t slot_of[WORKLOAD_MAX_PROCESSES];
static struct replay_process *active;

static const unsigned placeable_regions[] = { VMM_UREGION_MMAP, VMM_UREGION_SHM,
					      VMM_UREGION_LIBRARIES, VMM_UREGION_STACKS };

static unsigned pt_prot(uint8_t prot)
{
	return PT_READ | PT_USER | (prot & WORKLOAD_PROT_WRITE ? PT_WRITE : 0) |
	       (prot & WORKLOAD_PROT_EXEC ? PT_EXECUTE : 0);
}

static uint64_t pages_of(uint64_t bytes)
{
	return bytes / PAGE_SIZE;
}

/* ---- processes ------------------------------------------------------------------------------ */

static enum vm_status create_context(struct replay_process *p)
{
	p->piece_count = 0;
	memset(p->res, 0, sizeof(p->res));
	return memory_user_context_create(&p->ctx);
}

static void destroy_context(struct replay_process *p)
{
	if (active == p) {
		vmm_context_activate(&kernel_vmm);
		active = NULL;
	}
	vmm_context_destroy(&p->ctx);
}

static enum vm_status start_process(uint32_t pid, struct replay_process **out)
{
	slot_of[pid] = NO_SLOT;
	for (unsigned s = 0; s < REPLAY_LIVE; s++)
		if (!slots[s].used) {
			enum vm_status st = create_context(&slots[s]);
			if (st != VM_OK)
				return st;
			slots[s].used = true;
			slot_of[pid] = (uint16_t)s;
			*out = &slots[s];
			return VM_OK;
		}
	return VM_ERR_NO_SPACE;
}

static void end_process(uint32_t pid)
{
	struct replay_process *p = &slots[slot_of[pid]];
	destroy_context(p);
	p->used = false;
	slot_of[pid] = NO_SLOT;
}

/* ---- pieces --------------------------------------------------------------------------------- */

static struct reservation *new_reservation(struct replay_process *p, uint64_t base, uint64_t pages,
					   uint16_t *index)
{
	for (unsigned i = 0; i < REPLAY_RESERVATIONS; i++)
		if (!p->res[i].pieces) {
			p->res[i] = (struct reservation){ base, pages, 1 };
			*index = (uint16_t)i;
			return &p->res[i];
		}
	return NULL;
}

/* Makes `at` a piece boundary (splitting the piece across it). False when the table is full. */
static bool split_at(struct replay_process *p, uint64_t at)
{
	for (unsigned i = 0; i < p->piece_count; i++) {
		struct piece *pc = &p->pieces[i];
		if (pc->start < at && at < pc->end) {
			if (p->piece_count == REPLAY_PIECES)
				return false;
			struct piece tail = *pc;
			tail.kern += at - pc->start;
			tail.start = at;
			pc->end = at;
			p->pieces[p->piece_count++] = tail;
			p->res[tail.res].pieces++;
			return true;
		}
	}
	return true;
}

static enum vm_status drop_piece(struct scenario_run *run, struct replay_process *p, unsigned i)
{
	struct piece *pc = &p->pieces[i];
	enum vm_status st = VM_OK;
	if (pc->mapped)
		st = vmm_unmap(&p->ctx, pc->kern, pages_of(pc->end - pc->start));
	struct reservation *r = &p->res[pc->res];
	if (st == VM_OK && --r->pieces == 0)
		st = vmm_release(&p->ctx, r->base, r->pages);
	if (st != VM_OK)
		scenario_error(run, "unmapping [%#lx, %#lx): %s", pc->start, pc->end, vm_status_name(st));
	*pc = p->pieces[--p->piece_count];
	return st;
}

/* Unmaps every piece inside [start, end) (Linux: munmap, and what a new mapping replaces). */
static enum vm_status unmap_range(struct scenario_run *run, struct replay_process *p, uint64_t start,
				  uint64_t end)
{
	if (!split_at(p, start) || !split_at(p, end))
		return VM_ERR_NO_SPACE;
	for (unsigned i = 0; i < p->piece_count;) {
		struct piece *pc = &p->pieces[i];
		if (pc->start >= start && pc->end <= end)
			drop_piece(run, p, i); /* the last piece moved to i */
		else
			i++;
	}
	return VM_OK;
}

/*
 * Reserves the program's own range when it lies in a region mappings may be kept in and is free
 * there (asked first, so a taken range is not traced as a refused reservation); false when the
 * VMM must place it instead.
 */
static bool keep_address(struct replay_process *p, uint64_t addr, uint64_t pages)
{
	for (unsigned i = 0; i < ARRAY_SIZE(placeable_regions); i++) {
		const struct vmm_region *r = &p->ctx.regions[placeable_regions[i]];
		if (addr < r->base || pages > r->pages || pages_of(addr - r->base) > r->pages - pages)
			continue;
		struct vmm_query_result q;
		vmm_query(&p->ctx, addr, &q);
		if (q.state != VMM_PAGE_FREE || pages_of(q.start + q.pages * PAGE_SIZE - addr) < pages)
			return false;
		return vmm_reserve_at(&p->ctx, addr, pages) == VM_OK;
	}
	return false;
}

/*
 * A map over a range that one reservation of the process already holds contiguously (ld.so maps
 * a library's whole extent, then each segment over it with MAP_FIXED): the pieces inside are
 * replaced in place, so the library stays one reservation. Returns false (nothing changed) when
 * the range is not wholly such pieces; the pieces' ends are already split at start and end.
 */
static bool map_in_place(struct scenario_run *run, struct replay_process *p, uint64_t start,
			 uint64_t end, uint8_t prot, enum vm_status *status)
{
	uint64_t covered = 0, delta = 0;
	int res = -1;
	for (unsigned i = 0; i < p->piece_count; i++) {
		const struct piece *pc = &p->pieces[i];
		if (pc->start < start || pc->end > end)
			continue;
		if ((res >= 0 && (pc->res != res || pc->kern - pc->start != delta)))
			return false;
		res = pc->res;
		delta = pc->kern - pc->start;
		covered += pc->end - pc->start;
	}
	if (res < 0 || covered != end - start)
		return false;
	*status = VM_OK;
	for (unsigned i = 0; i < p->piece_count;) {
		struct piece *pc = &p->pieces[i];
		if (pc->start < start || pc->end > end) {
			i++;
			continue;
		}
		if (pc->mapped) {
			enum vm_status st = vmm_unmap(&p->ctx, pc->kern, pages_of(pc->end - pc->start));
			if (st != VM_OK)
				scenario_error(run, "unmapping [%#lx, %#lx): %s", pc->start, pc->end,
					       vm_status_name(st));
		}
		p->res[res].pieces--; /* the new piece below takes its place */
		*pc = p->pieces[--p->piece_count];
	}
	struct piece *pc = &p->pieces[p->piece_count++];
	*pc = (struct piece){ start, end, start + delta, (uint16_t)res, prot, false };
	p->res[res].pieces++;
	if (prot) {
		*status = vmm_map_anonymous(&p->ctx, pc->kern, pages_of(end - start), pt_prot(prot));
		pc->mapped = *status == VM_OK;
		pc->prot = *status == VM_OK ? prot : 0; /* refused: the range stays reserved, unmapped */
	}
	return true;
}

static enum vm_status map_range(struct scenario_run *run, struct replay_process *p, uint64_t addr,
				uint64_t length, uint8_t prot)
{
	if (!split_at(p, addr) || !split_at(p, addr + length))
		return VM_ERR_NO_SPACE;
	enum vm_status st;
	if (map_in_place(run, p, addr, addr + length, prot, &st))
		return st;
	st = unmap_range(run, p, addr, addr + length);
	if (st != VM_OK || p->piece_count == REPLAY_PIECES)
		return VM_ERR_NO_SPACE;
	uint64_t pages = pages_of(length), kern = addr;
	if (!keep_address(p, addr, pages)) {
		st = vmm_reserve(&p->ctx, VMM_UREGION_MMAP, pages, 1, &kern);
		if (st != VM_OK)
			return st;
	}
	uint16_t res;
	if (!new_reservation(p, kern, pages, &res)) {
		vmm_release(&p->ctx, kern, pages);
		return VM_ERR_NO_SPACE;
	}
	if (prot) {
		st = vmm_map_anonymous(&p->ctx, kern, pages, pt_prot(prot));
		if (st != VM_OK) {
			p->res[res].pieces = 0;
			vmm_release(&p->ctx, kern, pages);
			return st;
		}
	}
	p->pieces[p->piece_count++] = (struct piece){ addr, addr + length, kern, res, prot, prot != 0 };
	return VM_OK;
}

static enum vm_status protect_range(struct replay_process *p, uint64_t start, uint64_t end, uint8_t prot)
{
	if (!split_at(p, start) || !split_at(p, end))
		return VM_ERR_NO_SPACE;
	enum vm_status result = VM_OK;
	for (unsigned i = 0; i < p->piece_count; i++) {
		struct piece *pc = &p->pieces[i];
		if (pc->start < start || pc->end > end)
			continue;
		uint64_t pages = pages_of(pc->end - pc->start);
		enum vm_status st = VM_OK;
		if (!prot && pc->mapped) /* no access: the pages go, the reservation stays */
			st = vmm_unmap(&p->ctx, pc->kern, pages);
		else if (prot && pc->mapped)
			st = vmm_protect(&p->ctx, pc->kern, pages, pt_prot(prot));
		else if (prot)
			st = vmm_map_anonymous(&p->ctx, pc->kern, pages, pt_prot(prot));
		if (st == VM_OK) {
			pc->prot = prot;
			pc->mapped = prot != 0;
		} else if (result == VM_OK) {
			result = st;
		}
	}
	return result;
}

static uint8_t prot_at(const struct replay_process *p, uint64_t addr)
{
	for (unsigned i = 0; i < p->piece_count; i++)
		if (p->pieces[i].start <= addr && addr < p->pieces[i].end)
			return p->pieces[i].prot;
	return WORKLOAD_PROT_READ | WORKLOAD_PROT_WRITE;
}

/* Forgets reservation `res` and its pieces (the context never got it). */
static void forget_reservation(struct replay_process *p, unsigned res)
{
	for (unsigned i = 0; i < p->piece_count;)
		if (p->pieces[i].res == res)
			p->pieces[i] = p->pieces[--p->piece_count];
		else
			i++;
	p->res[res].pieces = 0;
}

/*
 * The child gets the parent's reservations, mapped pieces (fresh pages) and break. What the
 * child cannot get (out of memory) it goes without, so its tables always say what it holds.
 */
static enum vm_status copy_address_space(struct replay_process *child, const struct replay_process *parent)
{
	enum vm_status result = VM_OK;
	memcpy(child->res, parent->res, sizeof(child->res));
	child->piece_count = parent->piece_count;
	memcpy(child->pieces, parent->pieces, parent->piece_count * sizeof(struct piece));
	for (unsigned i = 0; i < REPLAY_RESERVATIONS; i++) {
		if (!child->res[i].pieces)
			continue;
		enum vm_status st = vmm_reserve_at(&child->ctx, child->res[i].base, child->res[i].pages);
		if (st != VM_OK) {
			forget_reservation(child, i);
			if (result == VM_OK)
				result = st;
		}
	}
	for (unsigned i = 0; i < child->piece_count; i++) {
		struct piece *pc = &child->pieces[i];
		if (!pc->mapped)
			continue;
		enum vm_status st = vmm_map_anonymous(&child->ctx, pc->kern, pages_of(pc->end - pc->start),
						      pt_prot(pc->prot));
		if (st != VM_OK) {
			pc->mapped = false;
			pc->prot = 0;
			if (result == VM_OK)
				result = st;
		}
	}
	uint64_t brk;
	if (parent->ctx.brk != parent->ctx.regions[VMM_UREGION_HEAP].base) {
		enum vm_status st = vmm_brk(&child->ctx, parent->ctx.brk, &brk);
		if (st != VM_OK && result == VM_OK)
			result = st;
	}
	return result;
}

/* ---- ops ------------------------------------------------------------------------------------- */

struct op_record {
	uint64_t addr, length;
};

static enum vm_status apply(struct scenario_run *run, const struct workload_op_header *h,
			    struct replay_process *p, struct op_record *rec)
{
	const void *payload = workload_op_payload(h);
	switch (h->op) {
	case WORKLOAD_OP_start:
		return VM_OK; /* the context was made by the caller */
	case WORKLOAD_OP_fork: {
		struct workload_op_fork op;
		memcpy(&op, payload, sizeof(op));
		struct replay_process *child;
		enum vm_status st = start_process(op.child, &child);
		return st == VM_OK ? copy_address_space(child, p) : st;
	}
	case WORKLOAD_OP_exec: {
		destroy_context(p);
		enum vm_status st = create_context(p);
		if (st != VM_OK) {
			p->used = false;
			slot_of[h->pid] = NO_SLOT;
		}
		return st;
	}
	case WORKLOAD_OP_exit:
		end_process(h->pid);
		return VM_OK;
	case WORKLOAD_OP_brk: {
		struct workload_op_brk op;
		memcpy(&op, payload, sizeof(op));
		uint64_t brk, base = p->ctx.regions[VMM_UREGION_HEAP].base;
		rec->addr = base + op.heap_bytes;
		rec->length = op.heap_bytes;
		return vmm_brk(&p->ctx, base + op.heap_bytes, &brk);
	}
	case WORKLOAD_OP_map: {
		struct workload_op_map op;
		memcpy(&op, payload, sizeof(op));
		*rec = (struct op_record){ op.addr, op.length };
		return map_range(run, p, op.addr, op.length, op.prot);
	}
	case WORKLOAD_OP_unmap: {
		struct workload_op_unmap op;
		memcpy(&op, payload, sizeof(op));
		*rec = (struct op_record){ op.addr, op.length };
		return unmap_range(run, p, op.addr, op.addr + op.length);
	}
	case WORKLOAD_OP_protect: {
		struct workload_op_protect op;
		memcpy(&op, payload, sizeof(op));
		*rec = (struct op_record){ op.addr, op.length };
		return protect_range(p, op.addr, op.addr + op.length, op.prot);
	}
	case WORKLOAD_OP_remap: {
		struct workload_op_remap op;
		memcpy(&op, payload, sizeof(op));
		*rec = (struct op_record){ op.new_addr, op.new_length };
		uint8_t prot = prot_at(p, op.old_addr);
		enum vm_status st = unmap_range(run, p, op.old_addr, op.old_addr + op.old_length);
		return st == VM_OK ? map_range(run, p, op.new_addr, op.new_length, prot) : st;
	}
	}
	return VM_ERR_INVALID; /* validated files hold no other op */
}

static void replay_ops(struct scenario_run *run, const struct workload_file *file)
{
	uint64_t cursor = file->ops_offset;
	for (const struct workload_op_header *h; (h = workload_next_op(file, &cursor));) {
		struct op_record rec = { 0, 0 };
		struct replay_process *p = NULL;
		uint8_t status;
		uint16_t context = 0xFFFF; /* none */
		if (h->op == WORKLOAD_OP_start) {
			status = (uint8_t)start_process(h->pid, &p);
			if (status == VM_OK)
				context = p->ctx.pt.trace_context;
		} else if (slot_of[h->pid] == NO_SLOT) {
			status = REPLAY_NO_CONTEXT;
		} else {
			p = &slots[slot_of[h->pid]];
			if (active != p && h->op != WORKLOAD_OP_exit) {
				vmm_context_activate(&p->ctx);
				active = p;
			}
			context = p->ctx.pt.trace_context;
			status = (uint8_t)apply(run, h, p, &rec);
			if (h->op == WORKLOAD_OP_exec && status == VM_OK)
				context = p->ctx.pt.trace_context; /* the new address space */
		}
		trace_replay_op(rec.addr, rec.length, h->pid, context, h->op, status);
		scenario_outcome(run, status == VM_OK);
	}
}

void scenario_replay(struct scenario_run *run)
{
	if (boot_info.module_count == 0) {
		scenario_refuse(run, "no workload module: boot with one (make trace WORKLOAD=FILE)");
		return;
	}
	const struct boot_module *m = &boot_info.modules[0];
	struct workload_file file;
	uint64_t offset;
	const char *problem = workload_validate(phys_to_virt(m->start), m->end - m->start, &file, &offset);
	if (problem) {
		scenario_refuse(run, "workload module %s is malformed at byte %lu: %s; nothing replayed",
				m->name, offset, problem);
		return;
	}
	kprintf("replay: workload \"%s\" (%s): %u processes, %u ops:", file.name, m->name,
		file.process_count, file.op_count);
	for (unsigned code = 0; code < WORKLOAD_OP_LIMIT; code++)
		if (file.ops_by_code[code])
			kprintf(" %s %lu", workload_op_name(code), file.ops_by_code[code]);
	kprintf("\n");

	/* Through the page source, whose calls are out of line: page_alloc would inline its paths here. */
	paddr_t slots_at = page_source_alloc(&kernel_page_source, SLOTS_PAGES, 1, MM_OWNER_TEST);
	if (slots_at == PAGE_SOURCE_FAILED) {
		scenario_error(run, "no memory for the replay's %u process slots (%lu pages); nothing replayed",
				REPLAY_LIVE, (unsigned long)SLOTS_PAGES);
		return;
	}
	slots = phys_to_virt(slots_at);
	memset(slots, 0, SLOTS_PAGES * PAGE_SIZE);
	for (unsigned i = 0; i < file.process_count; i++)
		slot_of[i] = NO_SLOT;
	active = NULL;
	scenario_stage_begin(run, "run");
	replay_ops(run, &file);
	scenario_stage_end(run, "run");
	scenario_stage_begin(run, "teardown"); /* processes the recording never saw exit */
	for (unsigned i = 0; i < file.process_count; i++)
		if (slot_of[i] != NO_SLOT)
			end_process(i);
	if (active)
		vmm_context_activate(&kernel_vmm);
	active = NULL;
	scenario_stage_end(run, "teardown");
	page_source_free(&kernel_page_source, slots_at, SLOTS_PAGES);
	slots = NULL;
}
