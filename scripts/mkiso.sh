#!/usr/bin/env bash
# Builds a GRUB2 (BIOS) rescue ISO that boots the kernel with a given command line.
#   scripts/mkiso.sh KERNEL.elf OUT.iso "KERNEL ARGS" [MODULE...]
# Each MODULE is passed to the kernel as a multiboot2 module (its file name is its command line).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 KERNEL.elf OUT.iso \"ARGS\" [MODULE...]" >&2; exit 2; }
elf=$1 out=$2 args=$3
shift 3
here=$(cd "$(dirname "$0")/.." && pwd)

case "$args" in *[\;\{\}\$\`\"\'\\]*)
	echo "mkiso: kernel arguments may not contain GRUB metacharacters: $args" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/iso   # only what goes into the ISO: the build log lives beside it, not in it
log=$work/grub-mkrescue.log
mkdir -p "$stage/boot/grub" "$stage/modules"
cp "$elf" "$stage/boot/pagescope.elf"
modules=""
for m in "$@"; do
	[ -f "$m" ] || { echo "mkiso: module not found: $m" >&2; exit 2; }
	name=$(basename "$m")
	cp "$m" "$stage/modules/$name"
	modules+="	module2 /modules/$name $name"$'\n'
done
awk -v args="$args" -v mods="$modules" \
	'{ gsub(/@ARGS@/, args); if ($0 ~ /@MODULES@/) { printf "%s", mods; next } print }' \
	"$here/boot/grub.cfg" > "$stage/boot/grub/grub.cfg"
mkdir -p "$(dirname "$out")"
# Only the BIOS platform and the modules the config uses: keeps the ISO small and the build fast.
grub-mkrescue -o "$out" --install-modules="multiboot2 normal iso9660 biosdisk" \
	--locales= --fonts= --themes= "$stage" >/dev/null 2>"$log" || {
	cat "$log" >&2
	exit 1
}
