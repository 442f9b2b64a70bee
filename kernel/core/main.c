/*
 * kmain: the order in which the kernel comes up. Each step may rely on every step above it.
 *   console -> CPU features -> GDT/IDT -> boot information -> command line -> memory -> tracing
 *   -> what the command line asked for (tests, a deliberate fault, a scenario) -> exit
 */
#include "kernel/arch/amd64/cpu.h"
#include "kernel/arch/amd64/descriptors.h"
#include "kernel/arch/amd64/qemu_exit.h"
#include "kernel/arch/amd64/serial.h"
#include "kernel/arch/amd64/vm.h"
#include "kernel/boot/multiboot2.h"
#include "kernel/core/boot.h"
#include "kernel/core/log.h"
#include "kernel/core/memory.h"
#include "kernel/mm/mm_env.h"
#include "kernel/core/options.h"
#include "kernel/core/phase.h"
#include "kernel/lib/testing.h"
#include "kernel/trace/tracer.h"
#include "kernel/workload/scenario.h"
#include "build/build_id.h"

struct boot_info boot_info;


static void print_cpu(void)
{
	const struct cpu_features *f = &cpu_features;
	kprintf("cpu: %s \"%s\"\n", f->vendor, f->brand);
	kprintf("cpu: %u-bit physical, %u-bit virtual addresses; NX %s, 1 GiB pages %s, PGE %s, PAT %s, "
		"PKE %s\n",
		f->phys_addr_bits, f->virt_addr_bits, f->nx ? "yes" : "no", f->pages_1g ? "yes" : "no",
		f->pge ? "yes" : "no", f->pat ? "yes" : "no", f->pke ? "yes" : "no");
}

static void print_boot_info(const struct boot_info *bi)
{
	kprintf("boot: loader \"%s\", info at %#lx (%lu bytes), cmdline \"%s\"\n", bi->loader_name,
		bi->info_phys, bi->info_size, bi->cmdline);
	uint64_t available = 0;
	kprintf("memory map (%u entries):\n", bi->memory_map_count);
	for (unsigned i = 0; i < bi->memory_map_count; i++) {
		const struct boot_memory_entry *e = &bi->memory_map[i];
		kprintf("  [%016lx-%016lx) %10lu KiB  %s\n", e->base, e->base + e->length, e->length >> 10,
			multiboot2_memory_type_name(e->type));
		if (e->type == MB2_MEMORY_AVAILABLE)
			available += e->length;
	}
	kprintf("memory map: %lu MiB available\n", available >> 20);
	for (unsigned i = 0; i < bi->module_count; i++)
		kprintf("module %u: [%#lx-%#lx) %s\n", i, bi->modules[i].start, bi->modules[i].end,
			bi->modules[i].name);
}

static void log_boot_problem(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

static void read_boot_info(uint32_t magic, uint64_t info_phys)
{
	if (magic != MB2_BOOT_MAGIC)
		panic("kmain: boot magic %#x is not multiboot2's %#x", magic, MB2_BOOT_MAGIC);
	/* The boot page tables map physical 0..4 GiB; the block must lie inside that window. */
	uint64_t window = 4 * GiB;
	if (info_phys >= window)
		panic("kmain: multiboot2 info at %#lx is beyond the boot mapping", info_phys);
	const char *err = multiboot2_parse(phys_to_virt(info_phys), window - info_phys, info_phys,
					   &boot_info, log_boot_problem);
	if (err)
		panic("kmain: malformed multiboot2 information: %s", err);
}

/*
 * What options_parse cannot judge by itself: whether the loader passed the whole command line, and
 * whether a test filter selects any test (zero tests run must not look like a pass).
 */
static void check_command_line(struct kernel_options *opts)
{
	if (boot_info.cmdline_cut) {
		kprintf("cmdline: the command line is longer than the kernel's %u-byte buffer (or not "
			"terminated); it was cut short, so the words above are not all that was asked for\n",
			BOOT_CMDLINE_MAX - 1);
		opts->errors++;
	}
	if (opts->run_tests && !testing_count(opts->test_filter)) {
		kprintf("cmdline: test=%s matches no in-kernel test; the tests are:\n", opts->test_filter);
		testing_list("cmdline:   ");
		opts->errors++;
	}
}

uint64_t kernel_clock_origin;

void kmain(uint32_t magic, uint64_t info_phys, uint64_t clock_origin);
void kmain(uint32_t magic, uint64_t info_phys, uint64_t clock_origin)
{
	kernel_clock_origin = clock_origin; /* before the first event: every clock counts from it */
	serial_init();
	kprintf("\npagescope %s\n", PAGESCOPE_BUILD_ID);
	cpu_detect();
	print_cpu();
	if (!cpu_features.long_mode || !cpu_features.nx)
		panic("kmain: CPU lacks long mode or NX"); /* the boot stub checks this first */
	gdt_init();
	idt_init();

	read_boot_info(magic, info_phys);
	print_boot_info(&boot_info);

	options_parse(&kernel_options, boot_info.cmdline, log_boot_problem);
	check_command_line(&kernel_options);
	char described[BOOT_CMDLINE_MAX + 128];
	options_describe(&kernel_options, described, sizeof(described));
	kprintf("options: %s\n", described);
	if (kernel_options.errors) {
		kprintf("cmdline: %u problem(s) in the command line; refusing to run with a configuration "
			"that is not what was asked for\n",
			kernel_options.errors);
		qemu_exit(KERNEL_EXIT_BAD_CONFIG);
	}

	memory_init(&boot_info);
	trace_boot_start();

	if (kernel_options.fault != FAULT_TEST_NONE)
		deliberate_fault(kernel_options.fault);

	int status = KERNEL_EXIT_SUCCESS;
	phase_begin("kernel");
	if (kernel_options.run_tests) {
		int failed = testing_run_all("ktest: ", kernel_options.test_filter);
		status = failed ? KERNEL_EXIT_TEST_FAILED : KERNEL_EXIT_SUCCESS;
	}
	if (kernel_options.scenario[0] && status == KERNEL_EXIT_SUCCESS)
		status = scenario_run_by_name(kernel_options.scenario, kernel_options.seed);
	phase_end("kernel");
	trace_boot_finish();
	memory_print_page_source_cost();
	kprintf("pagescope: done, exit status %d\n", status);
	qemu_exit(status);
}
