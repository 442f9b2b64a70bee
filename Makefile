# pagescope — top-level build. `make help` lists the targets.
#
# Knobs (override on the command line, e.g. `make run MEM=5G ARGS="test vmm=list"`;
# CROSS=<prefix> picks a cross toolchain, e.g. CROSS=x86_64-elf-):
MEM        ?= 512M
ARGS       ?=
QEMU_FLAGS ?=
CPU        ?= max
TIMEOUT    ?= 120
PYTHON     ?= /usr/bin/python3

BUILD := build

# Quiet by default: one line per step. `make V=1` shows the full commands.
ifeq ($(V),1)
  Q :=
  say = @true
else
  Q := @
  say = @printf '  %-6s %s\n' $(1) $(2)
endif
KERNEL_ELF := $(BUILD)/pagescope.elf
KERNEL_ISO := $(BUILD)/pagescope.iso

# --- toolchain -------------------------------------------------------------------------------
# A cross x86_64-elf toolchain wins when present; on an x86-64 host the native gcc builds a
# freestanding kernel just as well; anywhere else we cannot guess, so say what to install.
ifeq ($(origin CROSS),undefined)
  ifneq ($(shell command -v x86_64-elf-gcc 2>/dev/null),)
    CROSS := x86_64-elf-
  else ifeq ($(shell uname -m),x86_64)
    CROSS :=
  else
    $(error not an x86-64 host and no x86_64-elf-gcc on PATH: install an x86_64-elf cross toolchain or pass CROSS=<prefix>)
  endif
endif
KCC := $(CROSS)gcc
KLD := $(CROSS)ld
HOSTCC ?= gcc

# Code model: the kernel is linked at 0xFFFF800001000000 (higher half + 16 MiB, the seed's map).
# -mcmodel=kernel only reaches the top 2 GiB (0xFFFFFFFF80000000 and up), so it cannot be used.
# -mcmodel=large would work but turns every global access into a 10-byte movabs. Instead the kernel
# is position-independent code (-fpie, small model): every reference is RIP-relative, which works
# because all of the image lies within 2 GiB of itself, and the static link fixes the address.
# kernel/arch/amd64/visibility.h makes declarations hidden too, so no reference goes through a GOT.
# The arch-free core reaches the machine's page-table encoding as <machine/pte.h> (the only
# machine header it may include; scripts/check-layering.sh), found through this directory.
MACHINE_INCLUDE := -Ikernel/arch/amd64/include
KCFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-builtin-printf \
	-mno-red-zone -mgeneral-regs-only -fpie -fvisibility=hidden -fno-stack-protector \
	-fno-omit-frame-pointer -fno-asynchronous-unwind-tables -fno-plt -ffunction-sections -fdata-sections -I. $(MACHINE_INCLUDE) -MMD -MP \
	-include kernel/arch/amd64/visibility.h
KASFLAGS := -g -I. -MMD -MP -D__ASSEMBLY__
KLDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --no-dynamic-linker --gc-sections \
	-T kernel/arch/amd64/kernel.ld

# Arch-free code compiled both into the kernel and natively on the host.
SHARED_DIRS := kernel/lib kernel/boot kernel/mm kernel/trace kernel/exec
SHARED_SRCS := $(foreach d,$(SHARED_DIRS),$(wildcard $(d)/*.c))

KERNEL_SRCS := $(SHARED_SRCS) $(wildcard kernel/core/*.c kernel/arch/amd64/*.c kernel/drivers/*.c \
	kernel/workload/*.c kernel/user/*.c tests/kernel/*.c) $(wildcard boot/*.S kernel/arch/amd64/*.S)
KERNEL_OBJS := $(patsubst %,$(BUILD)/kernel/%.o,$(KERNEL_SRCS))

# --- host builds of the arch-free core -------------------------------------------------------
HOST_CFLAGS := -std=gnu11 -g -Wall -Wextra -Werror -DPAGESCOPE_HOST -I. $(MACHINE_INCLUDE) -MMD -MP
HOST_SAN := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
HOST_TEST_SRCS := $(SHARED_SRCS) kernel/core/options.c kernel/workload/scenario_names.c $(wildcard benchmarks/peers/*.c) \
	$(wildcard tests/host/*.c)
HOST_TEST_OBJS := $(patsubst %,$(BUILD)/host-test/%.o,$(HOST_TEST_SRCS))
HOST_TESTS := $(BUILD)/host-tests

# Benchmarks: each benchmarks/bench_*.c is one program, optimised and without sanitizers.
BENCH_LIB_SRCS := $(filter-out kernel/lib/testing.c,$(SHARED_SRCS)) tests/host/mm_env_host.c \
	tests/host/host_regions.c tests/host/vmm_patterns.c benchmarks/timing.c benchmarks/page_stack.c benchmarks/vmm_contexts.c \
	$(wildcard benchmarks/peers/*.c)
BENCH_LIB_OBJS := $(patsubst %,$(BUILD)/host-bench/%.o,$(BENCH_LIB_SRCS))
BENCH_PROGS := $(patsubst benchmarks/%.c,$(BUILD)/bench/%,$(wildcard benchmarks/bench_*.c))

DEPS := scripts/install-deps.sh

.PHONY: fuzz fuzz-deps FORCE all kernel iso run gdb test test-host test-python test-qemu bench-host bench bench-deps trace report deps \
	help clean
all: $(KERNEL_ISO)
kernel: $(KERNEL_ELF)
iso: $(KERNEL_ISO)

help:
	@echo "make             build $(KERNEL_ELF) and $(KERNEL_ISO)"
	@echo "make run         boot in QEMU (MEM=$(MEM) ARGS='$(ARGS)' CPU=$(CPU) QEMU_FLAGS=...); last line: pagescope: exit status N (meaning)"
	@echo "make gdb         boot halted with a gdb stub on :1234 and attach gdb with symbols"
	@echo "make test        host C tests, Python tests, QEMU boot tests"
	@echo "make test-host / test-python / test-qemu   one of those suites"
	@echo "make trace       boot with tracing, capture the event stream (SCENARIO=, WORKLOAD=, SEED=, OUT=, VMM=, ICOUNT=1), check it"
	@echo "make workload    convert an strace log into a workload file (STRACE=LOG OUT=FILE)"
	@echo "make workloads   run real programs under strace and convert each (build/workloads/)"
	@echo "make programs    build lua, sqlite3, xz from Debian sources (static musl), fetch busybox-static; inputs and host outputs (build/programs/)"
	@echo "make programs-syscalls   rewrite programs/SYSCALLS.md from strace of every run"
	@echo "make run-program PROG=FILE   run a static Linux program in pagescope (ARGS=, FILES=, STDIN=, OUT=)"
	@echo "make user-tests / test-programs   build tests/programs/ (musl, glibc) / run them in pagescope under both backends"
	@echo "make bench-host  host microbenchmarks"
	@echo "make bench       all benchmarks -> results/bench/ and results/README.md (QUICK=1: a reduced set, minutes)"
	@echo "make fuzz        libFuzzer over multiboot2 parsing and page_allocator_init (FUZZ_SECONDS=60)"
	@echo "make report      the main job (see README)"
	@echo "make report-pmm  every pmm= allocator on the same scenario and seed, side by side (results/report-pmm/)"
	@echo "make deps        install what the build needs from Debian packages"

deps:
	@$(DEPS) all

# --- kernel ----------------------------------------------------------------------------------
$(BUILD)/kernel/%.c.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(KCC) $(KCFLAGS) -c $< -o $@

$(BUILD)/kernel/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(call say,AS,$<)
	$(Q)$(KCC) $(KASFLAGS) -c $< -o $@

# The build id (git commit, "-dirty" when modified) is rewritten only when it changes, so it
# does not force a rebuild of main.c on every make. Its temporary name is this shell's own, so
# two makes at once (one per VMM backend, say) never move each other's file away.
BUILD_ID := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(BUILD)/build_id.h: FORCE
	@mkdir -p $(BUILD)
	@tmp=$@.tmp.$$$$; echo '#define PAGESCOPE_BUILD_ID "$(BUILD_ID)"' > $$tmp; \
		cmp -s $$tmp $@ && rm $$tmp || mv $$tmp $@
$(BUILD)/kernel/kernel/core/main.c.o: $(BUILD)/build_id.h
FORCE:

# A linked program depends on its list of sources, not only on the sources: when one is deleted
# (a test removed) no remaining object is newer than the program, yet it must be relinked without
# it. Each list is rewritten only when it changes, like the build id.
$(BUILD)/%.sources: FORCE
	@mkdir -p $(dir $@)
	@echo '$(SOURCES_OF_$*)' > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
SOURCES_OF_kernel = $(KERNEL_SRCS)
SOURCES_OF_host-tests = $(HOST_TEST_SRCS)

# The same for the kernel's compiler and linker flags: a changed flag rebuilds every kernel
# object and relinks, instead of linking objects made with the old flags.
$(BUILD)/kernel.flags: FORCE
	@mkdir -p $(dir $@)
	@echo '$(KCC) $(KCFLAGS) | $(KASFLAGS) | $(KLD) $(KLDFLAGS)' > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
$(KERNEL_OBJS): $(BUILD)/kernel.flags

$(KERNEL_ELF): $(KERNEL_OBJS) kernel/arch/amd64/kernel.ld $(BUILD)/kernel.sources $(BUILD)/kernel.flags
	$(call say,LD,$@)
	$(Q)$(KLD) $(KLDFLAGS) -o $@ $(KERNEL_OBJS)

$(KERNEL_ISO): $(KERNEL_ELF) boot/grub.cfg scripts/mkiso.sh
	@$(DEPS) boot
	$(call say,ISO,$@)
	$(Q)scripts/mkiso.sh $(KERNEL_ELF) $@ ""

# --- running ---------------------------------------------------------------------------------
run: $(KERNEL_ELF)
	@$(DEPS) boot
	@scripts/qemu-run.sh --elf $(KERNEL_ELF) --mem $(MEM) --cpu $(CPU) --timeout $(TIMEOUT) \
		--args "$(ARGS)" -- $(QEMU_FLAGS)

gdb: $(KERNEL_ELF)
	@$(DEPS) boot
	scripts/qemu-run.sh --elf $(KERNEL_ELF) --mem $(MEM) --cpu $(CPU) --timeout 0 \
		--args "$(ARGS)" --gdb -- $(QEMU_FLAGS)

# --- host tests ------------------------------------------------------------------------------
$(BUILD)/host-test/%.c.o: %.c
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)
	$(Q)$(HOSTCC) $(HOST_CFLAGS) $(HOST_SAN) -c $< -o $@

$(HOST_TESTS): $(HOST_TEST_OBJS) $(BUILD)/host-tests.sources
	$(call say,LINK,$@)
	$(Q)$(HOSTCC) $(HOST_SAN) -o $@ $(HOST_TEST_OBJS) -lm

test-host: $(HOST_TESTS)
	scripts/check-layering.sh
	$(HOST_TESTS)

test-python:
	@$(DEPS) python programs
	scripts/run-pytest.sh $(PYTHON)

test-qemu: $(KERNEL_ELF)
	@$(DEPS) boot
	tests/qemu/boot-tests.sh $(KERNEL_ELF)

# All three suites run even when one fails, so one failure does not hide another.
test:
	@$(DEPS) all
	@status=0; \
	$(MAKE) --no-print-directory test-host || status=1; \
	$(MAKE) --no-print-directory test-python || status=1; \
	$(MAKE) --no-print-directory test-qemu || status=1; \
	if [ $$status -eq 0 ]; then echo "make test: all suites passed"; else echo "make test: FAILED"; fi; \
	exit $$status

# --- benchmarks ------------------------------------------------------------------------------
$(BUILD)/host-bench/%.c.o: %.c | bench-deps
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)
	$(Q)$(HOSTCC) $(HOST_CFLAGS) -O2 -DNDEBUG -c $< -o $@

$(BUILD)/bench/%: $(BUILD)/host-bench/benchmarks/%.c.o $(BENCH_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(HOSTCC) -o $@ $^ -lm

bench-deps:
	@$(DEPS) bench
bench-host: $(BENCH_PROGS)
	@for b in $(BENCH_PROGS); do echo "== $$b"; $$b || exit 1; done

# make bench [QUICK=1] [BENCH_OUT=dir]: instructions (callgrind) and wall clock of every benchmark,
# one CSV each plus plots in BENCH_OUT, and the bench section of the README.md beside BENCH_OUT.
QUICK ?=
BENCH_OUT ?= results/bench
BENCH_README = $(patsubst %/,%,$(dir $(patsubst %/,%,$(BENCH_OUT))))/README.md
bench: $(BENCH_PROGS)
	@$(DEPS) bench python boot
	$(Q)$(PYTHON) benchmarks/run_bench.py $(if $(QUICK),--quick) --out $(BENCH_OUT) \
		--readme $(BENCH_README) --command "make bench$(if $(QUICK), QUICK=$(QUICK))"

# --- fuzzing ---------------------------------------------------------------------------------
# libFuzzer (clang) over the boot inputs a loader controls: multiboot2 info and the memory map.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := tests/fuzz/fuzz_boot_input.c kernel/boot/multiboot2.c kernel/lib/format.c \
	kernel/lib/string.c $(wildcard kernel/mm/pmm*.c) kernel/mm/avl_tree.c \
	$(wildcard kernel/trace/*.c) tests/host/mm_env_host.c
$(BUILD)/fuzz/fuzz_boot_input: $(FUZZ_SRCS)
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)
	$(Q)clang -std=gnu11 -g -O1 -DPAGESCOPE_HOST -I. $(MACHINE_INCLUDE) -fsanitize=fuzzer,address,undefined $^ -o $@

$(BUILD)/fuzz/fuzz_boot_input: | fuzz-deps
fuzz-deps:
	@$(DEPS) fuzz
fuzz: $(BUILD)/fuzz/fuzz_boot_input
	@mkdir -p $(BUILD)/fuzz/corpus
	$< -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ \
		$(BUILD)/fuzz/corpus

# --- the main job ----------------------------------------------------------------------------
# make report: build, boot the workload once per VMM backend under icount (deterministic
# timestamps, the same time axis for both), capture both traces, then write the HTML report
# (analyzer report replays and checks every trace it reads, as `check` does: one it refuses stops
# make report, exit 3, with the trace's name and first problem) into results/report/ (index.html, plots, both .pstrace and .pftrace) and refresh the
# committed headline plots in results/. No test suite runs here: that is `make test`.
REPORT_DIR := results/report
# The workload is `make trace`'s: SCENARIO (default all), SEED; SCENARIO=test boots the tests.
REPORT_WORKLOAD = $(if $(filter test,$(SCENARIO)),test,scenario=$(SCENARIO) seed=$(SEED))
HEADLINE_PLOTS := unusable_index bookkeeping_bytes work memory_strip
# The recorded programs (benchmarks/workloads/*.psw) the verdict also measures, each replayed in
# the kernel under both backends.
# The real programs (programs/runs.txt) make report runs in pagescope, by run name.
REAL_PROGRAM_RUNS := $(shell sed -n 's/^\([a-z0-9-]*\) *|.*/\1/p' programs/runs.txt)
REPORT_PROGRAMS := $(basename $(notdir $(wildcard benchmarks/workloads/*.psw)))
PROTO_PY := $(BUILD)/proto/pagescope_perfetto_pb2.py

$(PROTO_PY): analyzer/export/proto/pagescope_perfetto.proto
	@$(DEPS) python
	@mkdir -p $(dir $@)
	$(call say,PROTOC,$<)
	$(Q)protoc -Ianalyzer/export/proto --python_out=$(dir $@) $<

# `make report PMM=all` is the allocator lab's report (report-pmm, below); with PMM=NAME the
# usual report runs under that allocator.
ifeq ($(PMM),all)
report: report-pmm
else
report:
	@$(DEPS) all
	@mkdir -p $(BUILD)/report
	@echo "report: [1/6] building the kernel and the Perfetto protobuf module"
	@$(MAKE) --no-print-directory $(KERNEL_ELF) $(PROTO_PY) >$(BUILD)/report-build.log 2>&1 \
		|| { tail -n 30 $(BUILD)/report-build.log; exit 1; }
	@for backend in pagetable list; do \
		echo "report: [$$( [ $$backend = pagetable ] && echo 2 || echo 3 )/6] booting '$(REPORT_WORKLOAD)' with vmm=$$backend, capturing $(BUILD)/report/$$backend.pstrace"; \
		$(MAKE) --no-print-directory trace ICOUNT=1 VMM=$$backend SCENARIO=$(SCENARIO) SEED=$(SEED) \
			OUT=$(BUILD)/report/$$backend.pstrace >$(BUILD)/report-$$backend.log 2>&1 \
			|| { tail -n 30 $(BUILD)/report-$$backend.log; exit 1; }; \
	done
	@echo "report: [4/6] replaying each recorded program ($(REPORT_PROGRAMS)) under both backends, for the verdict"
	@rm -f $(BUILD)/report/replays.failed; \
	for program in $(REPORT_PROGRAMS); do for backend in pagetable list; do \
		$(MAKE) --no-print-directory trace ICOUNT=1 VMM=$$backend SCENARIO=replay \
			WORKLOAD=benchmarks/workloads/$$program.psw OUT=$(BUILD)/report/replay-$$program-$$backend.pstrace \
			>$(BUILD)/report-replay-$$program-$$backend.log 2>&1 \
			|| { tail -n 30 $(BUILD)/report-replay-$$program-$$backend.log >&2; \
			     touch $(BUILD)/report/replays.failed; break 2; }; \
		echo "$$program $$backend"; \
	done; done | $(PYTHON) -m tqdm --total $(words $(REPORT_PROGRAMS) $(REPORT_PROGRAMS)) \
		--desc "report: [4/6] boots" --unit boot --null; \
	[ ! -e $(BUILD)/report/replays.failed ]
	@echo "report: [5/6] running the real programs (make programs: $(REAL_PROGRAM_RUNS)) in pagescope under both backends, one boot each"
	@$(MAKE) --no-print-directory programs >$(BUILD)/report-programs-build.log 2>&1 \
		|| { tail -n 30 $(BUILD)/report-programs-build.log; exit 1; }
	@$(PYTHON) -m programs.pagescope --elf $(KERNEL_ELF) --out $(BUILD)/report/programs \
		>$(BUILD)/report-programs.log 2>&1 || { cat $(BUILD)/report-programs.log; exit 1; }
	@echo "report: [6/6] checking every trace and writing $(REPORT_DIR)/ (plots, Perfetto traces, comparison, verdict)"
	@$(PYTHON) -m analyzer report $(BUILD)/report/pagetable.pstrace $(BUILD)/report/list.pstrace \
		$(foreach p,$(REPORT_PROGRAMS),--workload $(p)=$(BUILD)/report/replay-$(p)-pagetable.pstrace \
			--workload $(p)=$(BUILD)/report/replay-$(p)-list.pstrace) \
		$(foreach r,$(REAL_PROGRAM_RUNS),--program $(r)=$(BUILD)/report/programs/runs-pagetable.pstrace \
			--program $(r)=$(BUILD)/report/programs/runs-list.pstrace) \
		$(if $(wildcard $(PMM_REPORT_DIR)/pmm.md),--allocators $(PMM_REPORT_DIR)) \
		-o $(REPORT_DIR) --results-readme results/README.md >/dev/null
	@$(PYTHON) -m analyzer compare $(BUILD)/report/pagetable.pstrace $(BUILD)/report/list.pstrace \
		>$(REPORT_DIR)/compare.txt || [ $$? -eq 5 ]  # 5: the runs diverged, a finding compare.txt states
	@for plot in $(HEADLINE_PLOTS); do cp $(REPORT_DIR)/$$plot.png results/$$plot.png; done
	@echo "report: done: $(abspath $(REPORT_DIR))/index.html"
endif

# --- report-pmm (begin) ------------------------------------------------------------------------
# make report-pmm [SCENARIO=all] [SEED=1] [MEM=512M]: the allocator lab side by side. Boots the
# same scenario and seed under every pmm= allocator (the rows of PMM_ALLOCATOR_LIST in
# kernel/mm/pmm_placement.h; vmm=pagetable fixed) under icount, boots
# scenario=pmm-pairs under each with tracing off for the instructions per alloc+free pair, boots
# the real programs (PMM_PROGRAMS, all in one boot) under each, and writes results/report-pmm/
# (`analyzer allocators` checks every trace as `check` does) (pmm.html, pmm.md: the ranking table, the plots, compare.txt: where
# each allocator's requests first diverge from regions').
PMM_LIST_OPEN := (
PMM_ALLOCATORS := $(shell grep -E '^[[:space:]]+X' kernel/mm/pmm_placement.h | grep -o 'X$(PMM_LIST_OPEN)[a-z0-9_]*,' | tr -d 'X$(PMM_LIST_OPEN),')
PMM_REPORT_DIR := results/report-pmm
# The real programs (programs/runs.txt) as a second workload: all of them in one boot per
# allocator (programs.pagescope --pmm; `make programs` fetches Debian packages once). Empty: none.
PMM_PROGRAMS ?= $(REAL_PROGRAM_RUNS)
.PHONY: report-pmm
report-pmm:
	@$(DEPS) all
	@mkdir -p $(BUILD)/report-pmm
	@echo "report-pmm: building the kernel$(if $(PMM_PROGRAMS), and the real programs (make programs))"
	@$(MAKE) --no-print-directory $(KERNEL_ELF) $(if $(PMM_PROGRAMS),programs) >$(BUILD)/report-pmm-build.log 2>&1 \
		|| { tail -n 30 $(BUILD)/report-pmm-build.log; exit 1; }
	@for pmm in $(PMM_ALLOCATORS); do \
		echo "report-pmm: booting '$(REPORT_WORKLOAD)' with pmm=$$pmm, capturing $(BUILD)/report-pmm/$$pmm.pstrace"; \
		$(MAKE) --no-print-directory trace ICOUNT=1 VMM=pagetable PMM=$$pmm SCENARIO=$(SCENARIO) \
			SEED=$(SEED) OUT=$(BUILD)/report-pmm/$$pmm.pstrace >$(BUILD)/report-pmm/$$pmm-trace.log 2>&1 \
			|| { tail -n 30 $(BUILD)/report-pmm/$$pmm-trace.log; exit 1; }; \
		echo "report-pmm: booting scenario=pmm-pairs with pmm=$$pmm (icount, trace=off)"; \
		scripts/qemu-run.sh --elf $(KERNEL_ELF) --mem $(MEM) --cpu $(CPU) --timeout $(TIMEOUT) --icount \
			--args "trace=off vmm=pagetable pmm=$$pmm scenario=pmm-pairs seed=$(SEED)" \
			>$(BUILD)/report-pmm/$$pmm-pairs.log 2>&1 \
			|| { tail -n 30 $(BUILD)/report-pmm/$$pmm-pairs.log; exit 1; }; \
		[ -z "$(PMM_PROGRAMS)" ] || { \
		echo "report-pmm: booting the real programs ($(PMM_PROGRAMS)) with pmm=$$pmm, all in one boot"; \
		$(PYTHON) -m programs.pagescope --elf $(KERNEL_ELF) --out $(BUILD)/report-pmm/programs-$$pmm \
			--backend pagetable --pmm $$pmm $(PMM_PROGRAMS) >$(BUILD)/report-pmm/programs-$$pmm.log 2>&1 \
			|| { cat $(BUILD)/report-pmm/programs-$$pmm.log; exit 1; }; }; \
	done
	@$(PYTHON) -m analyzer allocators $(foreach p,$(PMM_ALLOCATORS),$(BUILD)/report-pmm/$(p).pstrace) \
		$(foreach p,$(PMM_ALLOCATORS),--pairs $(BUILD)/report-pmm/$(p)-pairs.log) \
		$(if $(PMM_PROGRAMS),$(foreach p,$(PMM_ALLOCATORS),\
			--program programs=$(BUILD)/report-pmm/programs-$(p)/runs-pagetable.pstrace \
			--program-log programs=$(BUILD)/report-pmm/programs-$(p)/runs-pagetable.log)) \
		-o $(PMM_REPORT_DIR)
	@for pmm in $(filter-out regions,$(PMM_ALLOCATORS)); do \
		$(PYTHON) -m analyzer compare $(BUILD)/report-pmm/regions.pstrace $(BUILD)/report-pmm/$$pmm.pstrace; \
	done >$(PMM_REPORT_DIR)/.compare.txt.partial && mv $(PMM_REPORT_DIR)/.compare.txt.partial $(PMM_REPORT_DIR)/compare.txt
	@echo "report-pmm: done: $(abspath $(PMM_REPORT_DIR))/pmm.html"
# --- report-pmm (end) --------------------------------------------------------------------------

clean:
	rm -rf $(BUILD)

# Objects built on the way to a benchmark program are kept, not deleted as intermediates.
.SECONDARY:

# (build/programs holds Debian source trees, whose files are not this build's dependencies)
-include $(shell find $(BUILD) -path $(BUILD)/programs -prune -o -type f -name '*.d' -print 2>/dev/null)

# --- trace (begin) -----------------------------------------------------------------------------
# make trace [SCENARIO=name] [WORKLOAD=file] [SEED=n] [VMM=pagetable|list] [PMM=regions|buddy|...]
# [OUT=file] [ICOUNT=1]:
# boots with tracing on, captures the virtio-console stream into OUT, and checks it with
# `analyzer info`. QEMU ends when the kernel has sent trace_end and exits. SCENARIO is a kernel
# scenario (default all), or `test` for the in-kernel tests; WORKLOAD= (a workload file, see
# trace/WORKLOAD.md) implies SCENARIO=replay and is given to the kernel as a multiboot2 module.
# ICOUNT=1 runs under -icount shift=0 (timestamps count guest instructions; two boots differ only
# by one constant added to every timestamp, the loader's time: see the README).
WORKLOAD ?=
SCENARIO ?= $(if $(WORKLOAD),replay,all)
SEED ?= 1
VMM ?= pagetable
PMM ?= regions
OUT ?= $(BUILD)/trace.pstrace
ICOUNT ?=
TRACE_WORKLOAD = $(if $(filter test,$(SCENARIO)),test,scenario=$(SCENARIO) seed=$(SEED))

trace: $(KERNEL_ELF)
	@$(DEPS) boot
	@mkdir -p $(dir $(OUT))
	@scripts/qemu-run.sh --elf $(KERNEL_ELF) --mem $(MEM) --cpu $(CPU) --timeout $(TIMEOUT) \
		--args "trace=on vmm=$(VMM) pmm=$(PMM) $(TRACE_WORKLOAD)" --trace-out $(OUT) \
		$(if $(WORKLOAD),--module $(WORKLOAD)) $(if $(ICOUNT),--icount) -- $(QEMU_FLAGS)
	$(PYTHON) -m analyzer info $(OUT)

$(BUILD)/kernel/kernel/core/trace_boot.c.o: $(BUILD)/build_id.h
# --- trace (end) -------------------------------------------------------------------------------

# --- workloads (begin) -------------------------------------------------------------------------
# make workload STRACE=LOG OUT=FILE: converts an `strace -f -ttt` log into a workload file.
# make workloads: runs real programs under strace on this machine and converts each
# (scripts/make-workloads.sh; results in build/workloads/).
.PHONY: workload workloads
workload:
	@test -n "$(STRACE)" -a "$(origin OUT)" = "command line" || \
		{ echo "usage: make workload STRACE=LOG OUT=FILE" >&2; exit 2; }
	$(PYTHON) -m analyzer workload $(STRACE) -o $(OUT)

workloads:
	@$(DEPS) workloads
	scripts/make-workloads.sh $(BUILD)/workloads
# --- workloads (end) ---------------------------------------------------------------------------

# --- programs (begin) --------------------------------------------------------------------------
# make programs: lua, sqlite3 and xz built from their Debian source packages as static musl
# binaries, busybox-static's busybox as it ships (scripts/build-programs.sh, through a private apt
# configuration), then the runs' inputs and their host outputs (python3 -m programs.prepare).
# Everything is cached by content in build/programs/: a second run uses no network and writes
# nothing. make programs-syscalls rewrites programs/SYSCALLS.md from strace -f -c of every run.
.PHONY: programs programs-syscalls
programs:
	@$(DEPS) programs
	@scripts/build-programs.sh $(BUILD)/programs
	@$(PYTHON) -m programs.prepare $(BUILD)/programs

programs-syscalls: programs
	$(PYTHON) -m programs.syscalls $(BUILD)/programs programs/SYSCALLS.md
# --- programs (end) ----------------------------------------------------------------------------

# --- user programs (begin) ---------------------------------------------------------------------
# make run-program PROG=FILE [ARGS="..."] [FILES="a b"] [STDIN=FILE] [VMM=pagetable|list] [MEM=...]
#                  [OUT=trace.pstrace] [ICOUNT=1]: runs a static x86-64 Linux program as the first
# process of a boot (scripts/run-program.sh): its stdout and stderr on ours, its exit status as
# make's (make turns a failure into 2: call scripts/run-program.sh for the number). ARGS are split
# into words as the shell splits them (quote a word to keep its spaces); here ARGS are the
# program's arguments, not the kernel command line. A trace is captured only when OUT is given.
# make user-tests: builds each tests/programs/*.c twice, static against musl and against glibc,
# into build/user-tests/{musl,glibc}/, and the bad ELF inputs into build/user-tests/bad-elf/.
# make test-programs: runs them all in pagescope under both backends against the host's runs.
PROGRAM_NAMES := $(basename $(notdir $(wildcard tests/programs/*.c)))
PROGRAM_LIBCS := musl glibc
USER_TEST_PROGRAMS := $(foreach libc,$(PROGRAM_LIBCS),$(addprefix $(BUILD)/user-tests/$(libc)/,$(PROGRAM_NAMES)))
PROGRAM_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -static -no-pie
PROGRAM_CC_musl := musl-gcc
PROGRAM_CC_glibc := gcc
BAD_ELF_DIR := $(BUILD)/user-tests/bad-elf
# The switch that puts the user-program boots (tests/python/test_user_programs.py) into
# `make test` and `make test-python`: full (every case, both libcs, both backends: the cases of a
# libc, backend and memory size share one boot, so 8 boots hold them all), quick (the same boots,
# fewer cases compared: every case against musl, the cases glibc serves differently against
# glibc too) or off.
USER_PROGRAM_TESTS ?= full
export PAGESCOPE_USER_PROGRAM_TESTS = $(USER_PROGRAM_TESTS)

.PHONY: user-tests user-tests-deps run-program test-programs
user-tests: $(USER_TEST_PROGRAMS) $(BAD_ELF_DIR)/.made
user-tests-deps:
	@$(DEPS) programs

define PROGRAM_RULE
$(BUILD)/user-tests/$(1)/%: tests/programs/%.c tests/programs/check.h | user-tests-deps
	@mkdir -p $$(dir $$@)
	$$(call say,CC-$(1),$$<)
	$$(Q)$$(PROGRAM_CC_$(1)) $$(PROGRAM_CFLAGS) $$< -o $$@
endef
$(foreach libc,$(PROGRAM_LIBCS),$(eval $(call PROGRAM_RULE,$(libc))))

$(BAD_ELF_DIR)/.made: $(BUILD)/user-tests/musl/hello tests/programs/bad_elf.py
	$(call say,GEN,$(BAD_ELF_DIR))
	$(Q)$(PYTHON) tests/programs/bad_elf.py $(BUILD)/user-tests/musl/hello $(BAD_ELF_DIR)
	@touch $@

run-program: $(KERNEL_ELF)
	@$(DEPS) boot
	@test -n "$(PROG)" || { echo "usage: make run-program PROG=FILE [ARGS=...] [FILES=...] [STDIN=FILE] [VMM=...] [MEM=...] [OUT=FILE] [ICOUNT=1]" >&2; exit 2; }
	@scripts/run-program.sh --elf $(KERNEL_ELF) --prog $(PROG) --vmm $(VMM) --mem $(MEM) \
		--cpu $(CPU) --timeout $(TIMEOUT) $(foreach f,$(FILES),--file $(f)) \
		$(if $(STDIN),--stdin $(STDIN)) $(if $(filter command line,$(origin OUT)),--trace-out $(OUT)) \
		$(if $(ICOUNT),--icount) -- $(ARGS)

test-programs: $(KERNEL_ELF) user-tests
	@$(DEPS) boot python
	PAGESCOPE_USER_PROGRAM_TESTS=full $(PYTHON) -m pytest -q -p no:cacheprovider tests/python/test_user_programs.py
# --- user programs (end) -----------------------------------------------------------------------
