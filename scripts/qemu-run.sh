#!/usr/bin/env bash
# Boots the kernel from a GRUB2 ISO in QEMU (TCG, headless) and returns the kernel's exit status.
#
#   scripts/qemu-run.sh --elf build/pagescope.elf [--args "test vmm=list"] [--module FILE]...
#                       [--mem 512M] [--cpu max] [--timeout SEC] [--serial-log FILE]
#                       [--trace-out FILE] [--icount] [--gdb] [-- extra qemu flags]
#
# Exit status: the status the kernel passed to qemu_exit() (0 = success); 124 when the timeout hit
# (a hang); 125 when QEMU ended without the kernel exiting (a triple fault resets the machine and
# -no-reboot turns that into a plain QEMU exit); anything else is QEMU's own failure.
#
# The kernel exits through QEMU's isa-debug-exit device: writing v to port 0xf4 ends QEMU with
# status (v << 1) | 1. The kernel writes 0x10 | status, so a real kernel exit is recognisable and
# cannot be confused with QEMU exiting 0 or 1 on its own.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
elf="" args="" mem=512M cpu=max timeout=120 serial_log="" trace_out="" icount=0 gdb=0
modules=()
while [ $# -gt 0 ]; do
	case "$1" in
	--elf) elf=$2; shift 2 ;;
	--args) args=$2; shift 2 ;;
	--module) modules+=("$2"); shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--cpu) cpu=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--serial-log) serial_log=$2; shift 2 ;;
	--trace-out) trace_out=$2; shift 2 ;;
	--icount) icount=1; shift ;;
	--gdb) gdb=1; shift ;;
	--) shift; break ;;
	*) echo "qemu-run: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
	esac
done
[ -n "$elf" ] || { echo "qemu-run: --elf is required" >&2; exit 2; }
[ -f "$elf" ] || { echo "qemu-run: kernel not found: $elf (run make first)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/scripts/mkiso.sh" "$elf" "$work/boot.iso" "$args" ${modules[@]+"${modules[@]}"}

qemu=(qemu-system-x86_64 -machine pc -cpu "$cpu" -m "$mem" -smp 1
	-cdrom "$work/boot.iso" -boot d -display none -no-reboot -monitor none
	-device isa-debug-exit,iobase=0xf4,iosize=0x04)
if [ -n "$serial_log" ]; then
	qemu+=(-serial "file:$serial_log")
else
	qemu+=(-serial stdio)
fi
if [ -n "$trace_out" ]; then
	# A file chardev takes every byte the device hands it in one write (it never writes short),
	# so virtconsole's habit of dropping what a backend refuses cannot lose trace data here.
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
	"${qemu[@]}" "$@" &
	qpid=$!
	gdb -q -x "$work/gdbinit" || true
	kill "$qpid" 2>/dev/null || true
	exit 0
fi

set +e
if [ "$timeout" = 0 ]; then
	"${qemu[@]}" "$@"
else
	timeout -k 5 "$timeout" "${qemu[@]}" "$@"
fi
rc=$?
set -e

if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
	echo "qemu-run: TIMEOUT after ${timeout}s (kernel hung or never exited)" >&2
	exit 124
fi
if [ $((rc & 1)) -eq 1 ] && [ $(((rc >> 1) & 0x70)) -eq 16 ]; then
	exit $(((rc >> 1) & 0x0f))
fi
if [ $rc -eq 0 ]; then
	echo "qemu-run: QEMU stopped without a kernel exit (triple fault or reset)" >&2
	exit 125
fi
echo "qemu-run: QEMU failed with status $rc" >&2
exit $rc
