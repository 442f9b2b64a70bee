#!/usr/bin/env bash
# Installs what pagescope needs from Debian packages, only when something is missing.
#   scripts/install-deps.sh [build|boot|python|bench|fuzz|workloads|programs|all]...
# As root it runs apt-get; otherwise it prints the exact command to run and fails.
set -euo pipefail

want_build=0 want_boot=0 want_python=0 want_bench=0 want_fuzz=0 want_workloads=0 want_programs=0
[ $# -eq 0 ] && set -- all
for group in "$@"; do
	case "$group" in
	build) want_build=1 ;;
	boot) want_boot=1 ;;
	python) want_python=1 ;;
	bench) want_bench=1 ;;
	fuzz) want_fuzz=1 ;;
	workloads) want_workloads=1 ;;
	programs) want_programs=1 ;;
	all) want_build=1 want_boot=1 want_python=1 want_bench=1 want_programs=1 ;;
	*) echo "install-deps: unknown group '$group' (build, boot, python, bench, fuzz, workloads, programs, all)" >&2; exit 2 ;;
	esac
done

missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_file() { [ -e "$1" ] || missing+=("$2"); }
need_py() { /usr/bin/python3 -c "import $1" >/dev/null 2>&1 || missing+=("$2"); }

if [ $want_build = 1 ]; then
	need_cmd gcc gcc
	need_cmd ld binutils
	need_cmd make make
fi
if [ $want_boot = 1 ]; then
	need_cmd qemu-system-x86_64 qemu-system-x86
	need_cmd grub-mkrescue grub-common
	need_file /usr/lib/grub/i386-pc/multiboot2.mod grub-pc-bin
	need_cmd xorriso xorriso
	need_cmd mformat mtools
fi
if [ $want_python = 1 ]; then
	need_file /usr/bin/python3 python3
	need_py pytest python3-pytest
	need_py google.protobuf python3-protobuf
	need_py numpy python3-numpy
	need_py matplotlib python3-matplotlib
	need_py tqdm python3-tqdm
	need_cmd protoc protobuf-compiler
	# the report test opens the HTML report in a real (headless) browser
	need_cmd chromium chromium
fi
# valgrind: callgrind counts the benchmarks' instructions (perf is not available in every VM);
# its headers (valgrind/callgrind.h) mark the measured loops.
if [ $want_bench = 1 ]; then
	need_cmd valgrind valgrind
	need_file /usr/include/valgrind/callgrind.h valgrind
fi
# gdb: benchmarks/guest_pair_profile.py single-steps a guest pmm pair through QEMU's gdb stub
# (tests/python/test_guest_pair_profile.py runs it)
if [ $want_bench = 1 ] || [ $want_python = 1 ]; then
	need_cmd gdb gdb
fi

if [ $want_fuzz = 1 ]; then
	need_cmd clang clang
	need_file "$(ls -d /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null | head -n 1)" \
		"libclang-rt-$(clang --version 2>/dev/null | sed -n 's/.*version \([0-9]*\).*/\1/p' | head -n 1)-dev"
fi

if [ $want_workloads = 1 ]; then
	# make workloads: real programs recorded under strace (gcc and git are what some of them run)
	need_cmd strace strace
	need_cmd gcc gcc
	need_cmd git git
	need_cmd xz xz-utils
fi

if [ $want_programs = 1 ]; then
	# tests/programs: each built static against musl (musl-gcc) and glibc (libc.a); cpio reads
	# back the archives scripts/mkprogramfs.py writes, as an independent reader in its test
	need_cmd musl-gcc musl-tools
	need_cmd gcc gcc
	need_file /usr/lib/x86_64-linux-gnu/libc.a libc6-dev
	need_cmd cpio cpio
	# make programs: Debian sources fetched with apt-get source (dpkg-source unpacks them), built
	# with musl-gcc -static; sqlite's amalgamation is generated with tclsh; strace lists syscalls.
	need_cmd dpkg-source dpkg-dev
	need_cmd make make
	need_cmd readelf binutils
	need_cmd xz xz-utils
	need_cmd tclsh tcl
	need_cmd strace strace
	need_file /usr/share/keyrings/debian-archive-keyring.gpg debian-archive-keyring
fi

[ ${#missing[@]} -eq 0 ] && exit 0

# Deduplicate while keeping order.
packages=$(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++' | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages: $packages" >&2
	echo "install-deps: run: sudo apt-get update && sudo apt-get install -y $packages" >&2
	exit 1
fi
echo "install-deps: installing $packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $packages >/dev/null
