#!/usr/bin/env bash
# QEMU boot tests: boots the real GRUB2 ISO under TCG and checks what the kernel printed and the
# status it exited with. Every run has a watchdog, so a hang fails (qemu-run.sh reports 124 when
# the kernel stops making progress, judged by its output, not by wall time, so a busy host does not
# fail a run); a triple fault makes QEMU exit without the kernel's exit code (125), so it fails too.
#   tests/qemu/boot-tests.sh build/pagescope.elf [name-filter]
set -uo pipefail
elf=${1:?usage: $0 KERNEL.elf [name-filter]}
filter=${2:-}
here=$(cd "$(dirname "$0")/../.." && pwd)
logs=$here/build/boot-tests
mkdir -p "$logs"
passed=0 failed=0
failures=() # each failed test's name and first problem, repeated above the closing line

# boot NAME EXPECTED_STATUS "KERNEL ARGS" MEM CPU [PATTERN...]: every PATTERN (an extended regexp)
# must appear in the serial log; a PATTERN written "harness:REGEXP" must appear in what qemu-run.sh
# itself printed (its messages and its closing "pagescope: exit status N (meaning)" line).
# SILENCE=N (default 90) is the seconds of silence after which qemu-run.sh calls the kernel hung.
boot() {
	local name=$1 expected=$2 args=$3 mem=$4 cpu=$5
	shift 5
	[[ -n "$filter" && "$name" != *"$filter"* ]] && return
	local log=$logs/$name.log status problems=()
	local start_ns=$(date +%s%N)
	"$here/scripts/qemu-run.sh" --elf "$elf" --args "$args" --mem "$mem" --cpu "$cpu" \
		--timeout "${SILENCE:-90}" --serial-log "$log" >"$log.qemu" 2>&1
	status=$?
	local ms=$((($(date +%s%N) - start_ns) / 1000000))
	[ "$status" = "$expected" ] || problems+=("exit status $status, expected $expected ($(tr '\n' ' ' <"$log.qemu"))")
	[ -f "$log" ] || : >"$log" # a run refused before booting has no serial log
	# The log without carriage returns, read once. Not `tr | grep -q`: under pipefail, grep -q
	# stops at the first match and tr, still writing a long log, dies of SIGPIPE, which failed
	# boots whose log held the pattern.
	local text
	text=$(tr -d '\r' <"$log")
	for pattern in "$@"; do
		if [[ "$pattern" == harness:* ]]; then
			grep -Eq -- "${pattern#harness:}" "$log.qemu" ||
				problems+=("qemu-run output lacks /${pattern#harness:}/")
		else
			grep -Eq -- "$pattern" <<<"$text" || problems+=("log lacks /$pattern/")
		fi
	done
	if [ ${#problems[@]} -eq 0 ]; then
		passed=$((passed + 1))
		printf 'boot: PASS %-28s (%d ms)\n' "$name" "$ms"
	else
		failed=$((failed + 1))
		failures+=("$name: ${problems[0]}")
		printf 'boot: FAIL %-28s (%d ms) log: %s\n' "$name" "$ms" "$log"
		for p in "${problems[@]}"; do echo "boot:   $p"; done
		echo "boot:   last lines of the log:"
		tr -d '\r' <"$log" | tail -n 15 | sed 's/^/boot:   | /'
	fi
}

# The in-kernel tests at each memory size; 3584M and 5G put RAM on both sides of the PCI hole.
tests_pass='ktest: [0-9]+ passed, 0 failed'
for mem in 32M 512M 3584M 5G; do
	boot "ktest-mem-$mem" 0 "test" "$mem" max 'memory map \([0-9]+ entries\)' \
		'kernel context: pagetable bookkeeping' "$tests_pass" \
		'harness:^pagescope: exit status 0 \(success\)$'
done
# CPU models with and without 1 GiB pages take different direct-map paths.
boot ktest-cpu-qemu64-no-1g-pages 0 "test" 512M qemu64 '1 GiB pages no' "$tests_pass"
# Both VMM bookkeeping backends hold the kernel's own address space.
boot ktest-vmm-list 0 "test vmm=list" 512M max 'kernel context: list bookkeeping' "$tests_pass"
boot ktest-vmm-list-5G 0 "test vmm=list" 5G max 'kernel context: list bookkeeping' "$tests_pass"
# Every physical allocator of the lab (PMM_ALLOCATOR_LIST, kernel/mm/pmm_placement.h) passes
# every in-kernel test; 5G puts its zones on both sides of the PCI hole.
for pmm in buddy tlsf firstfit; do
	boot "ktest-pmm-$pmm" 0 "test pmm=$pmm" 512M max "pmm: $pmm: [0-9]+ MiB managed" "$tests_pass"
done
boot ktest-pmm-buddy-5G 0 "test pmm=buddy vmm=list" 5G max 'pmm: buddy: [0-9]+ MiB managed' \
	"$tests_pass"

# A deliberate page fault produces a readable report and the fault exit status.
boot fault-report-write 3 "fault=write" 512M max \
	'CPU exception 14: page fault, error code 0x2' \
	'CR2 ffff810000000000  page fault: kernel mode write to a non-present page' \
	'RIP ffff8000010[0-9a-f]{5}' 'stopping \(exit status 3\)' \
	'harness:^pagescope: exit status 3 \(unexpected CPU exception\)$'
boot fault-report-exec 3 "fault=exec" 512M max 'page fault: kernel mode instruction fetch from a non-present page'

# The failures a kernel cannot report itself still fail: a triple fault (QEMU exits without the
# kernel's status: 125) and a hang (124 once the kernel has printed nothing for SILENCE seconds;
# how long the host took to get it that far does not count).
boot harness-detects-triple-fault 125 "fault=triple" 512M max 'fault test: triple fault' \
	'harness:^pagescope: exit status 125 \(QEMU stopped without a kernel exit'
SILENCE=10 boot harness-detects-hang 124 "fault=hang" 512M max 'fault test: hang' \
	'harness:^pagescope: exit status 124 \(hang: no progress: the kernel printed nothing for 10s\)$'

# A run that cannot be set up (here QEMU refuses the memory size) is neither a pass nor a kernel
# status: 126.
boot harness-setup-failure 126 "test" 20x max 'harness:^pagescope: exit status 126 \(the run could not be set up\)$'

# Too little memory for GRUB to load the kernel: GRUB's own error reaches the serial log and the
# run ends at once as "not enough memory to boot" (123), not as a hang after the timeout.
boot harness-grub-out-of-memory 123 "test" 20M max 'error: out of memory' \
	'harness:^pagescope: exit status 123 \(not enough memory to boot: GRUB ran out of memory'

# A bad command line is refused with a clear message, not run with a guessed configuration.
boot cmdline-unknown-option 5 "tset" 512M max "unknown option 'tset'" 'refusing to run'
boot cmdline-bad-value 5 "vmm=lists" 512M max "option 'vmm=lists' not understood: expected pagetable or list"
boot cmdline-unknown-scenario 5 "scenario=nosuch" 512M max "option 'scenario=nosuch' not understood" \
	'harness:^pagescope: exit status 5 \(bad command line\)$'
boot cmdline-unknown-allocator 5 "pmm=nosuch" 512M max \
	"option 'pmm=nosuch' not understood: expected one of regions buddy tlsf firstfit" \
	'harness:^pagescope: exit status 5 \(bad command line\)$'
# Longer than the kernel's 511-byte buffer: refused, and the refusal names the cut (here the lost
# tail is `vmm=list`, which a cut line would silently run as the pagetable backend).
long_value=$(printf '0%.0s' $(seq 1 220))
boot cmdline-longer-than-buffer-refused 5 \
	"test=arch_tsc seed=$long_value pad=$long_value pad2=$long_value trace=on vmm=list" 512M max \
	"longer than the kernel's 511-byte buffer" 'refusing to run'
# A test filter that selects nothing is refused (zero tests run is not a pass); `all` means every
# test (it is what the options line prints for a full run); a comma does not separate options.
boot cmdline-test-filter-matches-nothing 5 "test=nosuch" 512M max \
	'test=nosuch matches no in-kernel test' 'cmdline:   arch_tsc_advances' 'refusing to run'
boot cmdline-test-filter-with-comma 5 "test=arch_tsc,vmm=list" 512M max \
	'test=arch_tsc,vmm=list matches no in-kernel test'
boot cmdline-test-all-runs-every-test 0 "test=all" 512M max 'options: test=all ' "$tests_pass" \
	'ktest: PASS vmm_contexts_created_and_destroyed_in_a_loop_leak_nothing'
boot cmdline-key-given-twice 5 "vmm=list vmm=pagetable" 512M max \
	"option 'vmm' given more than once" 'refusing to run'
# What the options line prints is accepted as input and means the same.
boot cmdline-options-line-is-accepted 0 "test=arch_tsc vmm=list trace=on fault=none scenario=none seed=7" \
	512M max 'options: test=arch_tsc vmm=list pmm=regions trace=on fault=none scenario=none seed=7$' \
	'ktest: 1 passed, 0 failed'
# Characters GRUB would alter (comment, end of command, metacharacters) are refused before
# booting, with the bad-command-line status.
refused_by_grub() {
	boot "cmdline-grub-would-alter-$1" 5 "$2" 512M max \
		'harness:GRUB would not pass them through unchanged' \
		'harness:^pagescope: exit status 5 \(bad command line'
}
refused_by_grub comment 'test # vmm=list'
refused_by_grub newline $'test\nvmm=list'
refused_by_grub ampersand 'test=arch & vmm=list'
refused_by_grub pipe 'test | vmm=list'
refused_by_grub tab $'test\tvmm=list'
refused_by_grub semicolon 'test; vmm=list'
refused_by_grub quote 'test "vmm=list"'

# A failure's details are printed where it happened, possibly thousands of lines up; repeat a
# line per failure here so that the end of the output alone says what failed.
for f in "${failures[@]}"; do echo "boot: failed: $f"; done
echo "boot: $passed passed, $failed failed"
if [ $((passed + failed)) -eq 0 ]; then
	echo "boot: no boot test is named like '$filter': zero tests run is not a pass" >&2
	exit 1
fi
[ $failed -eq 0 ]
