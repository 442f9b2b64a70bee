/*
 * Loading a static executable from the module filesystem into a fresh process image, as Linux's
 * binfmt_elf does for a static program:
 *   - regions: the machine's user layout (vm.h) plus `program` = the segments' pages, with the
 *     heap region starting right after them (the break starts at the end of the image);
 *   - each PT_LOAD segment is one reservation allowing what its p_flags say (read is implied);
 *     a page two segments share allows what either allows (W^X refuses write with execute);
 *   - the pages holding file bytes are mapped and filled now (file-backed pages are not demand
 *     paged here: the filesystem has no page cache to fault them in from); .bss beyond the last
 *     file byte's page is demand-zero, like every heap, mmap and stack page;
 *   - the stack: STACK_INITIAL bytes reserved below the region's end, growing down on a fault
 *     to STACK_LIMIT (RLIMIT_STACK's default); argv, envp and the auxiliary vector on it.
 * Position-independent static programs (static-PIE) are placed at PIE_BASE.
 */
#include "process.h"
#include "kernel/arch/amd64/vm.h"
#include "kernel/arch/amd64/vm_regions.h"
#include "kernel/core/log.h"
#include "kernel/core/memory.h"
#include "kernel/core/options.h"
#include "kernel/exec/elf64.h"
#include "kernel/exec/initial_stack.h"
#include "kernel/lib/format.h"

#define PIE_BASE 0x0000555555554000ull
#define STACK_INITIAL (128 * KiB)
#define STACK_LIMIT (8 * MiB)
#define STACK_IMAGE_MAX (64 * KiB)
#define HEAP_MAX (64 * GiB)

static unsigned segment_access(unsigned flags)
{
	return PT_READ | (flags & ELF_PF_W ? PT_WRITE : 0) | (flags & ELF_PF_X ? PT_EXECUTE : 0);
}

static void set_regions(struct process_image *image, const struct elf_image *elf)
{
	memcpy(image->regions, amd64_user_regions, sizeof(amd64_user_regions));
	struct vmm_region *heap = &image->regions[VMM_UREGION_HEAP];
	heap->base = elf->highest;
	heap->pages = HEAP_MAX / PAGE_SIZE;
	image->regions[VMM_UREGION_PROGRAM] = (struct vmm_region){
		TRACE_NAME(VMM_UREGION_PROGRAM), elf->lowest, (elf->highest - elf->lowest) / PAGE_SIZE,
		MM_OWNER_USER,
	};
}

/* Reserves and fills one segment. 0 or -errno. */
static int64_t load_segment(struct vmm_context *ctx, const struct elf_segment *s, const uint8_t *file,
			    uint64_t *reserved_end)
{
	unsigned access = segment_access(s->flags);
	uint64_t first = ALIGN_DOWN(s->vaddr, PAGE_SIZE), end = ALIGN_UP(s->vaddr + s->memsz, PAGE_SIZE);
	if (first < *reserved_end) { /* the page it shares with the segment before */
		struct vmm_query_result q;
		vmm_query(ctx, first, &q);
		unsigned both = q.access | access;
		if ((both & PT_WRITE) && (both & PT_EXECUTE))
			return -LX_ENOEXEC;
		if (vmm_protect_range(ctx, first, 1, both) != VM_OK)
			return -LX_ENOMEM;
		first += PAGE_SIZE;
	}
	if (first < end && vmm_reserve_at_access(ctx, first, (end - first) / PAGE_SIZE, access) != VM_OK)
		return -LX_ENOMEM;
	*reserved_end = end;
	/* File bytes: their pages are mapped now and filled. */
	if (image_write(ctx, s->vaddr, file + s->offset, s->filesz) < 0)
		return -LX_ENOMEM;
	return 0;
}

/* Builds argv/envp/auxv on the new stack. 0 or -errno. */
static int64_t build_stack(struct process_image *image, const struct elf_image *elf,
			   const char *path, const char *const *argv, unsigned argc,
			   const char *const *envp, unsigned envc, uint64_t *rsp)
{
	const struct vmm_region *stacks = &image->regions[VMM_UREGION_STACKS];
	uint64_t top = stacks->base + stacks->pages * PAGE_SIZE;
	struct vmm_context *ctx = &image->ctx;
	if (vmm_reserve_at_access(ctx, top - STACK_INITIAL, STACK_INITIAL / PAGE_SIZE, PT_READ | PT_WRITE) != VM_OK)
		return -LX_ENOMEM;
	image->stack = (struct vmm_stack){ top - STACK_INITIAL, top - STACK_LIMIT, PT_READ | PT_WRITE };
	uint8_t random[16];
	program_random_bytes(random, sizeof(random));
	struct auxv_entry aux[] = {
		{ AT_PHDR, elf->phdr_vaddr }, { AT_PHENT, elf->phentsize }, { AT_PHNUM, elf->phnum },
		{ AT_PAGESZ, PAGE_SIZE },     { AT_BASE, 0 },               { AT_FLAGS, 0 },
		{ AT_ENTRY, elf->entry },     { AT_UID, 0 },                { AT_EUID, 0 },
		{ AT_GID, 0 },                { AT_EGID, 0 },               { AT_SECURE, 0 },
		{ AT_HWCAP, 0 },              { AT_HWCAP2, 0 },             { AT_CLKTCK, 100 },
	};
	struct initial_stack_input in = { argv, argc, envp, envc, random, path, aux, ARRAY_SIZE(aux) };
	uint8_t *buf = kmalloc(&kernel_heap, STACK_IMAGE_MAX);
	if (!buf)
		return -LX_ENOMEM;
	uint64_t used = 0;
	*rsp = initial_stack_build(&in, top, buf, STACK_IMAGE_MAX, &used);
	int64_t st = *rsp == 0 ? -LX_E2BIG : 0;
	/* The pages it fills are mapped now (the loader's writes are not the program's faults). */
	if (st == 0)
		st = image_write(ctx, top - used, buf + STACK_IMAGE_MAX - used, used);
	kfree(&kernel_heap, buf);
	return st;
}

int64_t program_load(struct process *p, struct process_image *image, const char *path,
		     const char *const *argv, unsigned argc, const char *const *envp, unsigned envc,
		     struct exception_frame *frame, char *why, unsigned long why_size)
{
	struct cpio_entry file;
	if (!cpio_find(&program_world.archive, path, &file)) {
		ksnprintf(why, why_size, "%s: no such file in the module filesystem", path);
		return -LX_ENOENT;
	}
	struct elf_image elf;
	const char *bad = elf_check(file.data, file.size, USER_TOP, PIE_BASE, &elf);
	if (bad) {
		ksnprintf(why, why_size, "%s: %s", path, bad);
		return -LX_ENOEXEC;
	}
	if (elf.highest > USER_MMAP_BASE && !elf.position_independent) {
		ksnprintf(why, why_size, "%s: its segments reach into the mmap region", path);
		return -LX_ENOEXEC;
	}
	set_regions(image, &elf);
	struct vmm_config config = {
		.kind = VMM_CONTEXT_USER,
		.backend = kernel_options.vmm,
		.source = &kernel_page_source,
		.regions = image->regions,
		.region_count = VMM_UREGION_PROGRAM + 1,
		.brk_region = VMM_UREGION_HEAP,
		.shm_region = VMM_UREGION_SHM,
		.kernel = &kernel_vmm,
		.demand_paged = true,
	};
	enum vm_status vst = vmm_context_create(&image->ctx, &config);
	if (vst != VM_OK) {
		ksnprintf(why, why_size, "%s: no memory for its address space (%s)", path, vm_status_name(vst));
		return -LX_ENOMEM;
	}
	int64_t st = 0;
	uint64_t reserved_end = 0;
	for (unsigned i = 0; i < elf.segment_count && st == 0; i++)
		st = load_segment(&image->ctx, &elf.segments[i], file.data, &reserved_end);
	uint64_t rsp = 0;
	if (st == 0)
		st = build_stack(image, &elf, path, argv, argc, envp, envc, &rsp);
	if (st < 0) {
		vmm_context_destroy(&image->ctx);
		ksnprintf(why, why_size, "%s: %s", path,
			  st == -LX_E2BIG ? "arguments and environment too large" :
			  st == -LX_ENOEXEC ? "two segments share a page and would be writable and executable" :
					      "out of memory while loading it");
		return st;
	}
	user_frame_init(frame, elf.entry, rsp);
	ksnprintf(p->path, sizeof(p->path), "%s", path);
	return 0;
}
