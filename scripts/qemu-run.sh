#!/usr/bin/env bash
# Boots the kernel from a GRUB2 ISO in QEMU (TCG, headless) and returns the kernel's exit status.
# This script is the entry point whose exit status is the documented one (`make run` calls it,
# but make turns every failure into its own status 2).
#
#   scripts/qemu-run.sh --elf build/pagescope.elf [--args "test vmm=list"] [--module FILE]...
#                       [--mem 512M] [--cpu max] [--timeout SEC] [--boot-timeout SEC]
#                       [--serial-log FILE] [--com2 FILE] [--com3 FILE] [--trace-out FILE]
#                       [--icount] [--gdb] [-- extra qemu flags]
#
# --com2 / --com3 write what the guest sends to the second (I/O 0x2F8) and third (0x3E8) serial
# ports into FILE, byte for byte (a user program's stdout and stderr, scripts/run-program.sh);
# without them those ports do not exist, as before. Their growth counts as progress too.
#
# Exit status, always repeated as the last line on stderr: "pagescope: exit status N (meaning)"
#   0-6  the status the kernel passed to qemu_exit() (kernel/arch/amd64/qemu_exit.h): 0 success,
#        1 in-kernel tests failed, 2 panic, 3 unexpected CPU exception, 4 unsupported CPU or
#        loader, 5 bad command line (also when the arguments cannot pass through GRUB unchanged,
#        refused before booting by scripts/mkiso.sh), 6 a scenario refused its input
#   123  GRUB could not load the kernel; "not enough memory to boot" when GRUB ran out of memory
#   124  a hang: the kernel started but made no progress (no console or trace output) for
#        --timeout seconds (default 120; 0 = wait forever), or it did not start within
#        --boot-timeout seconds (default 120)
#   125  QEMU stopped without a kernel exit (a triple fault resets the machine and -no-reboot
#        turns that into a plain QEMU exit)
#   126  the run could not be set up: bad usage, the ISO could not be built, QEMU failed to start
#        or was stopped by a signal from outside the run
#
# A hang is judged by the kernel's own progress, not by wall time since the start: the kernel
# prints as it goes, so once it has printed its banner, silence on both its outputs for --timeout
# seconds means it is stuck. A busy host only slows it down, which moves the deadline with it.
#
# The kernel exits through QEMU's isa-debug-exit device: writing v to port 0xf4 ends QEMU with
# status (v << 1) | 1. The kernel writes 0x10 | status (boot/grub.cfg writes 0x20 | 1 when GRUB
# fails), so a real exit is recognisable and cannot be confused with QEMU exiting 0 or 1 itself.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

status_meaning() {
	case $1 in
	0) echo "success" ;;
	1) echo "in-kernel tests failed" ;;
	2) echo "kernel panic" ;;
	3) echo "unexpected CPU exception" ;;
	4) echo "unsupported CPU or loader" ;;
	5) echo "bad command line" ;;
	6) echo "a scenario refused its input" ;;
	123) echo "GRUB could not load the kernel" ;;
	124) echo "hang: no progress" ;;
	125) echo "QEMU stopped without a kernel exit: triple fault or reset" ;;
	126) echo "the run could not be set up" ;;
	*) echo "unknown status" ;;
	esac
}
# finish N [DETAIL [MEANING]]: the last line of every run, then exit N.
finished=0
finish() {
	local meaning=${3:-$(status_meaning "$1")}
	echo "pagescope: exit status $1 ($meaning${2:+: $2})" >&2
	finished=1
	exit "$1"
}
setup_failure() {
	echo "qemu-run: $1" >&2
	finish 126
}

elf="" args="" mem=512M cpu=max timeout=120 boot_timeout=120 serial_log="" trace_out="" icount=0 gdb=0
com2="" com3=""
modules=()
while [ $# -gt 0 ]; do
	case "$1" in
	--elf | --args | --module | --mem | --cpu | --timeout | --boot-timeout | --serial-log | --trace-out | \
		--com2 | --com3)
		[ $# -ge 2 ] || setup_failure "option '$1' needs a value"
		case "$1" in
		--elf) elf=$2 ;;
		--args) args=$2 ;;
		--module) modules+=("$2") ;;
		--mem) mem=$2 ;;
		--cpu) cpu=$2 ;;
		--timeout) timeout=$2 ;;
		--boot-timeout) boot_timeout=$2 ;;
		--serial-log) serial_log=$2 ;;
		--trace-out) trace_out=$2 ;;
		--com2) com2=$2 ;;
		--com3) com3=$2 ;;
		esac
		shift 2 ;;
	--icount) icount=1; shift ;;
	--gdb) gdb=1; shift ;;
	--) shift; break ;;
	*) setup_failure "unknown option '$1' (see the header of $0)" ;;
	esac
done
[ -n "$elf" ] || setup_failure "--elf is required"
[ -f "$elf" ] || setup_failure "kernel not found: $elf (run make first)"
for n in "$timeout" "$boot_timeout"; do
	[[ "$n" =~ ^[0-9]+$ ]] || setup_failure "timeouts are whole seconds, not '$n'"
done

work=$(mktemp -d)
qpid="" tailpid=""
cleanup() {
	local status=$?
	[ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
	[ -z "$tailpid" ] || kill "$tailpid" 2>/dev/null || true
	rm -rf "$work"
	# A command of this script failed unexpectedly (set -e): still a setup failure, still said.
	if [ $finished = 0 ] && [ $gdb = 0 ] && [ $status != 0 ]; then
		finish 126 "qemu-run.sh stopped on an unexpected error (status $status)"
	fi
}
trap cleanup EXIT
set +e
"$here/scripts/mkiso.sh" "$elf" "$work/boot.iso" "$args" ${modules[@]+"${modules[@]}"}
rc=$?
set -e
[ $rc -eq 5 ] && finish 5 "refused before booting (see the mkiso line above)"
[ $rc -eq 0 ] || setup_failure "building the boot ISO failed (mkiso status $rc)"

# The serial console always goes to a file: the watchdog below reads its growth. Without
# --serial-log it is a scratch file that is also copied to stdout as it grows.
log=${serial_log:-$work/serial.log}
: 2>/dev/null >"$log" || setup_failure "cannot write the serial log $log"
qemu=(qemu-system-x86_64 -machine pc -cpu "$cpu" -m "$mem" -smp 1
	-cdrom "$work/boot.iso" -boot d -display none -no-reboot -monitor none
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial "file:$log")
# Serial ports are numbered in the order of -serial: COM2 must exist (unused) for COM3 to be third.
if [ -n "$com2" ] || [ -n "$com3" ]; then
	for port in "$com2" "$com3"; do
		if [ -n "$port" ]; then
			: 2>/dev/null >"$port" || setup_failure "cannot write the serial output file $port"
			qemu+=(-serial "file:$port")
		else
			qemu+=(-serial null)
		fi
	done
fi
if [ -n "$trace_out" ]; then
	# A file chardev takes every byte the device hands it in one write (it never writes short),
	# so virtconsole's habit of dropping what a backend refuses cannot lose trace data here.
	: 2>/dev/null >"$trace_out" || setup_failure "cannot write the trace file $trace_out"
	qemu+=(-device virtio-serial-pci,max_ports=1
		-chardev "file,id=pstrace,path=$trace_out"
		-device virtconsole,chardev=pstrace,name=pagescope.trace)
fi
if [ $icount = 1 ]; then
	# One guest instruction = 1 ns of virtual time; the guest TSC follows, so figures repeat.
	qemu+=(-icount shift=0,sleep=off)
fi
if [ $gdb = 1 ]; then
	qemu+=(-s -S)
	cat >"$work/gdbinit" <<GDB
file $elf
target remote localhost:1234
GDB
	echo "qemu-run: QEMU halted with a gdb stub on :1234; attaching gdb (symbols from $elf)"
	if [ -z "$serial_log" ]; then
		tail -n +1 -f "$log" &
		tailpid=$!
	fi
	"${qemu[@]}" "$@" </dev/null &
	qpid=$!
	gdb -q -x "$work/gdbinit" || true
	exit 0
fi

# QEMU's own messages are kept to tell a machine that stopped from a QEMU killed from outside.
"${qemu[@]}" "$@" </dev/null 2>"$work/qemu.stderr" &
qpid=$!
if [ -z "$serial_log" ]; then
	tail -n +1 -f --pid="$qpid" "$log" &
	tailpid=$!
fi

# Watchdog: the kernel has started once its banner line ("pagescope <build id>") is in the log;
# from then on any growth of the log or of the trace file is progress.
progress_bytes() {
	local total
	total=$(stat -c %s "$log" 2>/dev/null || echo 0)
	for file in "$trace_out" "$com2" "$com3"; do
		if [ -n "$file" ]; then
			total=$((total + $(stat -c %s "$file" 2>/dev/null || echo 0)))
		fi
	done
	echo "$total"
}
started=0 seen=0 last_progress=$SECONDS hang=""
while kill -0 "$qpid" 2>/dev/null; do
	sleep 0.5
	now=$(progress_bytes)
	if [ "$now" != "$seen" ]; then
		seen=$now
		last_progress=$SECONDS
	fi
	if [ $started = 0 ]; then
		if grep -q '^pagescope ' "$log" 2>/dev/null; then
			started=1
			last_progress=$SECONDS
		elif [ "$boot_timeout" != 0 ] && [ $SECONDS -ge "$boot_timeout" ]; then
			hang="the kernel did not start within ${boot_timeout}s (no banner on the console)"
		fi
	elif [ "$timeout" != 0 ] && [ $((SECONDS - last_progress)) -ge "$timeout" ]; then
		hang="the kernel printed nothing for ${timeout}s"
	fi
	if [ -n "$hang" ]; then
		kill "$qpid" 2>/dev/null || true
		sleep 1
		kill -9 "$qpid" 2>/dev/null || true
		break
	fi
done
set +e
wait "$qpid"
rc=$?
set -e
qpid=""
if [ -n "$tailpid" ]; then
	wait "$tailpid" 2>/dev/null
	tailpid=""
fi
cat "$work/qemu.stderr" >&2
[ -n "$hang" ] && finish 124 "$hang"

if [ $((rc & 1)) -eq 1 ] && [ $(((rc >> 1) & 0x70)) -eq 16 ]; then
	finish $(((rc >> 1) & 0x0f))
fi
if [ $((rc & 1)) -eq 1 ] && [ $(((rc >> 1) & 0x70)) -eq 32 ]; then
	if grep -q 'error: out of memory' "$log"; then
		finish 123 "GRUB ran out of memory loading the kernel into -m $mem" "not enough memory to boot"
	fi
	finish 123 "see GRUB's error in the log"
fi
if [ $rc -eq 0 ]; then
	# QEMU exits 0 on SIGTERM/SIGINT too: that was someone else stopping the run, not a reset.
	if grep -q 'terminating on signal' "$work/qemu.stderr"; then
		finish 126 "$(grep -m1 'terminating on signal' "$work/qemu.stderr")" \
			"QEMU was stopped from outside the run"
	fi
	finish 125
fi
setup_failure "QEMU failed with status $rc"
