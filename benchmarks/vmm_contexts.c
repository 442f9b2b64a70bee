#include "benchmarks/vmm_contexts.h"

#include <stdio.h>
#include <stdlib.h>

#include "tests/host/host_regions.h"

static void created(enum vm_status st, const char *program, const char *what)
{
	if (st != VM_OK) {
		fprintf(stderr, "%s: %s: %s\n", program, what, vm_status_name(st));
		exit(1);
	}
}

void vmm_contexts_open(struct vmm_contexts *c, enum vmm_backend_kind backend,
			 const struct page_source *source, bool demand_paged, const char *program)
{
	struct vmm_config kc = { .kind = VMM_CONTEXT_KERNEL, .backend = backend, .source = source,
				 .regions = host_kernel_regions, .region_count = HOST_KERNEL_REGION_COUNT,
				 .user_regions = host_user_regions,
				 .user_region_count = HOST_USER_REGION_COUNT,
				 .brk_region = VMM_NO_REGION, .shm_region = VMM_NO_REGION };
	created(vmm_context_create(&c->kernel, &kc), program, "kernel context");
	struct vmm_config uc = { .kind = VMM_CONTEXT_USER, .backend = backend, .source = source,
				 .brk_region = VMM_UREGION_HEAP, .shm_region = VMM_UREGION_SHM,
				 .kernel = &c->kernel, .demand_paged = demand_paged };
	created(vmm_context_create(&c->user, &uc), program, "user context");
}

void vmm_contexts_close(struct vmm_contexts *c)
{
	vmm_context_destroy(&c->user);
	vmm_context_destroy(&c->kernel);
}
