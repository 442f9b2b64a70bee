/* Memory bring-up: for now only reports the kernel image; the pmm and direct map come next. */
#include "boot.h"
#include "log.h"
#include "kernel/arch/amd64/vm.h"

/* Linker symbols are higher-half addresses (low symbols are out of RIP-relative reach). */
extern char kernel_image_end[];

void memory_init(const struct boot_info *bi)
{
	(void)bi;
	uint64_t end_phys = (uint64_t)kernel_image_end - HIGHER_HALF_BASE;
	kprintf("kernel image: physical [%#llx-%#lx)\n", KERNEL_IMAGE_PHYS, end_phys);
}
