#!/usr/bin/env bash
# Runs one static x86-64 Linux program as the first process of a pagescope boot and behaves like
# the program: its stdout on stdout, its stderr on stderr, its exit status as this script's.
#
#   scripts/run-program.sh --elf build/pagescope.elf --prog FILE [--file F]... [--stdin F]
#                          [--env K=V]... [--vmm pagetable|list] [--pmm ALLOCATOR] [--mem 128M]
#                          [--cpu max]
#                          [--timeout SEC] [--trace-out FILE] [--icount] [--kernel-log FILE]
#                          [-- ARG...]
#
# The boot protocol (README.md, "Running programs"): scripts/mkprogramfs.py packs FILE, every
# --file, the arguments (.argv, argv[0] = /BASENAME of FILE), the environment (.envp, only when
# some --env is given) and --stdin (.stdin) into a newc cpio archive given to the kernel as its
# first module; the kernel boots with `scenario=program vmm=VMM trace=on|off` (on with
# --trace-out; `pmm=ALLOCATOR` too when --pmm is given, else the kernel's default allocator), writes the program's fd 1 to COM2 and fd 2 to COM3 (scripts/qemu-run.sh --com2,
# --com3) and ends its log (COM1) with `program: exit status N`. ARGs travel in the archive, not
# on the kernel command line, so they may hold any byte but NUL.
#
# Output, once the boot has ended (not as the program runs): the bytes the program wrote to
# stdout, then to stderr; after its stderr, the kernel's kill reports (log lines starting
# `program: pid P killed`), one per killed process, as Linux's shell would say "Segmentation fault".
#
# Exit status:
#   the program's: N from `program: exit status N` (0-255; 128 + the signal number Linux would
#       have sent when the kernel killed it, e.g. 139 for a SIGSEGV), when the kernel exited 0;
#   otherwise scripts/qemu-run.sh's status (1-6 kernel, 123-126 harness), and then stderr ends
#       with its line `pagescope: exit status N (meaning)` after the kernel log's `program:` and
#       `scenario program:` lines (why a program was refused: status 6) and the log's last lines. That line on stderr is
#       what tells a kernel status from a program that exited with the same number;
#   126 too when the kernel exited 0 without a `program: exit status` line (it did not run the
#       program), with a `run-program:` line saying so.
#
# PAGESCOPE_QEMU_RUN names another boot script with qemu-run.sh's options (the harness's own
# tests use a stand-in that plays back a kernel's outputs).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
qemu_run=${PAGESCOPE_QEMU_RUN:-$here/scripts/qemu-run.sh}
usage_failure() {
	echo "run-program: $1" >&2
	echo "pagescope: exit status 126 (the run could not be set up)" >&2
	exit 126
}

elf="" prog="" stdin="" vmm=pagetable pmm="" mem=128M cpu=max timeout=120 trace_out="" icount=0 kernel_log=""
files=() envs=()
while [ $# -gt 0 ]; do
	case "$1" in
	--elf | --prog | --file | --stdin | --env | --vmm | --pmm | --mem | --cpu | --timeout | --trace-out | --kernel-log)
		[ $# -ge 2 ] || usage_failure "option '$1' needs a value"
		case "$1" in
		--elf) elf=$2 ;;
		--prog) prog=$2 ;;
		--file) files+=(--file "$2") ;;
		--stdin) stdin=$2 ;;
		--env) envs+=(--env "$2") ;;
		--vmm) vmm=$2 ;;
		--pmm) pmm=$2 ;;
		--mem) mem=$2 ;;
		--cpu) cpu=$2 ;;
		--timeout) timeout=$2 ;;
		--trace-out) trace_out=$2 ;;
		--kernel-log) kernel_log=$2 ;;
		esac
		shift 2 ;;
	--icount) icount=1; shift ;;
	--) shift; break ;;
	*) usage_failure "unknown option '$1' (see the header of $0)" ;;
	esac
done
[ -n "$elf" ] || usage_failure "--elf is required"
[ -n "$prog" ] || usage_failure "--prog is required (the program to run)"
[ -f "$prog" ] || usage_failure "program not found: $prog"
case "$vmm" in pagetable | list) ;; *) usage_failure "--vmm is pagetable or list, not '$vmm'" ;; esac
# The kernel refuses an allocator it does not have (exit 5, listing them); only the word's shape
# is checked here, so that it cannot smuggle another option onto the command line.
[[ -z "$pmm" || "$pmm" =~ ^[a-z0-9_]+$ ]] || usage_failure "--pmm is an allocator name, not '$pmm'"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fs=$work/program.cpio
/usr/bin/python3 "$here/scripts/mkprogramfs.py" -o "$fs" --program "$prog" \
	${files[@]+"${files[@]}"} ${stdin:+--stdin "$stdin"} ${envs[@]+"${envs[@]}"} -- "$@" ||
	usage_failure "the program's filesystem could not be built (see the mkprogramfs line above)"

log=${kernel_log:-$work/kernel.log}
run=("$qemu_run" --elf "$elf" --mem "$mem" --cpu "$cpu" --timeout "$timeout"
	--module "$fs" --serial-log "$log" --com2 "$work/stdout" --com3 "$work/stderr")
if [ -n "$trace_out" ]; then
	run+=(--args "scenario=program vmm=$vmm${pmm:+ pmm=$pmm} trace=on" --trace-out "$trace_out")
else
	run+=(--args "scenario=program vmm=$vmm${pmm:+ pmm=$pmm} trace=off")
fi
[ $icount = 0 ] || run+=(--icount)
set +e
"${run[@]}" >"$work/harness" 2>&1
status=$?
set -e

# The program's own bytes, exactly; a port the kernel never wrote is an empty file or none.
[ ! -f "$work/stdout" ] || cat "$work/stdout"
[ ! -f "$work/stderr" ] || cat "$work/stderr" >&2
kernel_lines() { [ ! -f "$log" ] || tr -d '\r' <"$log"; }
kernel_lines | grep -E '^program: pid [0-9]+ killed' >&2 || true

if [ $status = 0 ]; then
	exit_line=$(kernel_lines | grep -E '^program: exit status [0-9]+$' | tail -n 1 || true)
	if [ -n "$exit_line" ]; then
		exit "${exit_line##* }"
	fi
	echo "run-program: the kernel exited 0 without a 'program: exit status N' line: it did not run the program" >&2
	kernel_lines | tail -n 15 | sed 's/^/kernel log | /' >&2
	echo "pagescope: exit status 126 (the kernel did not run the program)" >&2
	exit 126
fi
kernel_lines | grep -E '^(scenario )?program: ' | grep -Ev '^program: pid [0-9]+ killed' >&2 || true
kernel_lines | tail -n 15 | sed 's/^/kernel log | /' >&2
cat "$work/harness" >&2
exit $status
