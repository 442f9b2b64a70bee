/*
 * The kernel reading and writing a program's memory on its behalf (system-call arguments and
 * results). Each page is reached through the program's own page tables and the direct map; a page
 * that is not mapped, or not writable when the kernel must write it (copy-on-write), is faulted in
 * first through process_fault, exactly as the program's own access would (Linux takes the same
 * faults in kernel mode). A fault that is refused makes the call fail with -EFAULT; the program is
 * not killed for it, as on Linux. Work: one translation per page touched, plus its fault.
 */
#include "process.h"
#include "kernel/arch/amd64/vm.h"
#include "kernel/lib/string.h"

/* The kernel's address of user byte va, for `kind`, or NULL when the program may not access it. */
static uint8_t *user_byte(struct process *p, uint64_t va, enum vmm_fault_kind kind)
{
	if (va >= USER_TOP)
		return NULL;
	for (unsigned attempt = 0; attempt < 2; attempt++) {
		struct pt_translation t;
		if (pt_translate(&p->image->ctx.pt, va, &t) == VM_OK && (t.prot & PT_USER) &&
		    (kind != VMM_FAULT_WRITE || (t.prot & PT_WRITE)))
			return (uint8_t *)phys_to_virt(t.pa);
		if (attempt == 0) {
			struct vmm_fault_result r;
			uint64_t rip = p->kstack ? user_frame_of(p->kstack + KSTACK_PAGES * PAGE_SIZE)->rip : 0;
			if (!process_fault(p, va, kind, rip, &r))
				return NULL;
		}
	}
	return NULL;
}

int64_t copy_from_user(struct process *p, void *dst, uint64_t src, uint64_t len)
{
	uint8_t *out = dst;
	while (len > 0) {
		uint8_t *from = user_byte(p, src, VMM_FAULT_READ);
		if (!from)
			return -LX_EFAULT;
		uint64_t chunk = MIN(len, PAGE_SIZE - (src & (PAGE_SIZE - 1)));
		memcpy(out, from, chunk);
		out += chunk;
		src += chunk;
		len -= chunk;
	}
	return 0;
}

int64_t copy_to_user(struct process *p, uint64_t dst, const void *src, uint64_t len)
{
	const uint8_t *in = src;
	while (len > 0) {
		uint8_t *to = user_byte(p, dst, VMM_FAULT_WRITE);
		if (!to)
			return -LX_EFAULT;
		uint64_t chunk = MIN(len, PAGE_SIZE - (dst & (PAGE_SIZE - 1)));
		memcpy(to, in, chunk);
		in += chunk;
		dst += chunk;
		len -= chunk;
	}
	return 0;
}

int64_t string_from_user(struct process *p, char *dst, uint64_t src, uint64_t max)
{
	for (uint64_t i = 0; i < max;) { /* one translation per page, not per byte */
		const uint8_t *c = user_byte(p, src + i, VMM_FAULT_READ);
		if (!c)
			return -LX_EFAULT;
		uint64_t in_page = MIN(max - i, PAGE_SIZE - ((src + i) & (PAGE_SIZE - 1)));
		for (uint64_t k = 0; k < in_page; k++, i++) {
			dst[i] = (char)c[k];
			if (c[k] == 0)
				return (int64_t)i;
		}
	}
	return -LX_ENAMETOOLONG;
}

/*
 * The kernel's address of the page at va in ctx, mapped now with what its reservation allows when
 * it is not mapped yet (the loader's and the kernel's own writes into an image are not the
 * program's faults, so they are not traced as faults). NULL when out of memory.
 */
static uint8_t *image_page(struct vmm_context *ctx, uint64_t va)
{
	struct pt_translation t;
	if (pt_translate(&ctx->pt, va, &t) != VM_OK) {
		struct vmm_query_result q;
		vmm_query(ctx, va, &q);
		if (vmm_map_anonymous(ctx, va, 1, vmm_access_prot(q.access)) != VM_OK)
			return NULL;
		pt_translate(&ctx->pt, va, &t);
	}
	return (uint8_t *)phys_to_virt(t.pa);
}

int64_t image_write(struct vmm_context *ctx, uint64_t va, const void *src, uint64_t len)
{
	const uint8_t *in = src;
	while (len > 0) {
		uint8_t *page = image_page(ctx, ALIGN_DOWN(va, PAGE_SIZE));
		if (!page)
			return -LX_ENOMEM;
		uint64_t chunk = MIN(len, PAGE_SIZE - (va & (PAGE_SIZE - 1)));
		memcpy(page + (va & (PAGE_SIZE - 1)), in, chunk);
		in += chunk;
		va += chunk;
		len -= chunk;
	}
	return 0;
}
