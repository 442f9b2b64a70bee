#!/usr/bin/env bash
# QEMU boot tests: boots the real GRUB2 ISO under TCG and checks what the kernel printed and the
# status it exited with. Every run has a timeout, so a hang fails; a triple fault makes QEMU exit
# without the kernel's exit code (qemu-run.sh reports 125), so it fails too.
#   tests/qemu/boot-tests.sh build/pagescope.elf [name-filter]
set -uo pipefail
elf=${1:?usage: $0 KERNEL.elf [name-filter]}
filter=${2:-}
here=$(cd "$(dirname "$0")/../.." && pwd)
logs=$here/build/boot-tests
mkdir -p "$logs"
passed=0 failed=0

# boot NAME EXPECTED_STATUS "KERNEL ARGS" MEM CPU [PATTERN...]: every PATTERN (an extended regexp)
# must appear in the serial log.
boot() {
	local name=$1 expected=$2 args=$3 mem=$4 cpu=$5
	shift 5
	[[ -n "$filter" && "$name" != *"$filter"* ]] && return
	local log=$logs/$name.log status problems=()
	local start_ns=$(date +%s%N)
	"$here/scripts/qemu-run.sh" --elf "$elf" --args "$args" --mem "$mem" --cpu "$cpu" \
		--timeout "${BOOT_TIMEOUT:-90}" --serial-log "$log" >"$log.qemu" 2>&1
	status=$?
	local ms=$((($(date +%s%N) - start_ns) / 1000000))
	[ "$status" = "$expected" ] || problems+=("exit status $status, expected $expected ($(tr '\n' ' ' <"$log.qemu"))")
	for pattern in "$@"; do
		tr -d '\r' <"$log" | grep -Eq -- "$pattern" || problems+=("log lacks /$pattern/")
	done
	if [ ${#problems[@]} -eq 0 ]; then
		passed=$((passed + 1))
		printf 'boot: PASS %-28s (%d ms)\n' "$name" "$ms"
	else
		failed=$((failed + 1))
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
		'kernel context: pagetable bookkeeping' "$tests_pass"
done
# CPU models with and without 1 GiB pages take different direct-map paths.
boot ktest-cpu-qemu64-no-1g-pages 0 "test" 512M qemu64 '1 GiB pages no' "$tests_pass"
# Both VMM bookkeeping backends hold the kernel's own address space.
boot ktest-vmm-list 0 "test vmm=list" 512M max 'kernel context: list bookkeeping' "$tests_pass"
boot ktest-vmm-list-5G 0 "test vmm=list" 5G max 'kernel context: list bookkeeping' "$tests_pass"

# A deliberate page fault produces a readable report and the fault exit status.
boot fault-report-write 3 "fault=write" 512M max \
	'CPU exception 14: page fault, error code 0x2' \
	'CR2 ffff810000000000  page fault: kernel mode write to a non-present page' \
	'RIP ffff8000010[0-9a-f]{5}' 'stopping \(exit status 3\)'
boot fault-report-exec 3 "fault=exec" 512M max 'page fault: kernel mode instruction fetch from a non-present page'

# The failures a kernel cannot report itself still fail: a triple fault (QEMU exits without the
# kernel's status: 125) and a hang (the timeout: 124).
boot harness-detects-triple-fault 125 "fault=triple" 512M max 'fault test: triple fault'
BOOT_TIMEOUT=5 boot harness-detects-hang 124 "fault=hang" 512M max 'fault test: hang'

# A bad command line is refused with a clear message, not run with a guessed configuration.
boot cmdline-unknown-option 5 "tset" 512M max "unknown option 'tset'" 'refusing to run'
boot cmdline-bad-value 5 "vmm=lists" 512M max "option 'vmm=lists' not understood: expected pagetable or list"
boot cmdline-unknown-scenario 5 "scenario=nosuch" 512M max "option 'scenario=nosuch' not understood"

echo "boot: $passed passed, $failed failed"
[ $failed -eq 0 ]
