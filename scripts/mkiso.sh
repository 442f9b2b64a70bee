#!/usr/bin/env bash
# Builds a GRUB2 (BIOS) rescue ISO that boots the kernel with a given command line.
#   scripts/mkiso.sh KERNEL.elf OUT.iso "KERNEL ARGS" [MODULE...]
# Each MODULE is passed to the kernel as a multiboot2 module (its file name is its command line).
#
# The arguments reach the kernel through GRUB's script parser, which would change some of them
# (a `#` starts a comment, a newline ends the command, quotes, `\` and `$` are interpreted, and
# { } | & ; < > are its metacharacters). Rather than have the kernel run a command line nobody
# typed, such arguments are refused here. What passes is printable ASCII words separated by
# spaces, which GRUB hands over word for word (runs of spaces become one).
#
# Exit status: 0 built; 5 the kernel arguments cannot be passed through exactly (the status the
# kernel itself uses for a bad command line); 2 bad usage or a missing file; 1 grub-mkrescue failed.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 KERNEL.elf OUT.iso \"ARGS\" [MODULE...]" >&2; exit 2; }
elf=$1 out=$2 args=$3
shift 3
here=$(cd "$(dirname "$0")/.." && pwd)

refuse() {
	echo "mkiso: kernel arguments $1; GRUB would not pass them through unchanged: $(printf '%q' "$args")" >&2
	exit 5
}
# Byte-wise matching: in the C locale [:print:] is exactly printable ASCII (space to ~).
LC_ALL=C
case "$args" in *[![:print:]]*)
	refuse "may contain only printable ASCII and spaces (no newline, tab or other control character)" ;;
esac
case "$args" in *[\#\;\{\}\|\&\<\>\$\`\"\'\\]*)
	refuse "may not contain GRUB metacharacters (# ; { } | & < > \$ \` quotes or \\)" ;;
esac
unset LC_ALL

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
	case "$name" in *[!A-Za-z0-9._-]*)
		echo "mkiso: module file names may use only letters, digits, . _ and -: $name" >&2; exit 2 ;;
	esac
	cp "$m" "$stage/modules/$name"
	modules+="	if ! module2 /modules/$name $name; then set pagescope_loaded=no; fi"$'\n'
done
# Literal substitution (awk's gsub would treat & and \ in the replacement specially).
PAGESCOPE_ARGS=$args PAGESCOPE_MODULES=$modules awk '
	/@MODULES@/ { printf "%s", ENVIRON["PAGESCOPE_MODULES"]; next }
	{ i = index($0, "@ARGS@"); if (i) $0 = substr($0, 1, i - 1) ENVIRON["PAGESCOPE_ARGS"] substr($0, i + 6); print }
	' "$here/boot/grub.cfg" > "$stage/boot/grub/grub.cfg"
mkdir -p "$(dirname "$out")"
# Only the BIOS platform and the modules the config uses: keeps the ISO small and the build fast.
grub-mkrescue -o "$out" \
	--install-modules="multiboot2 normal iso9660 biosdisk serial terminal terminfo test echo iorw" \
	--locales= --fonts= --themes= "$stage" >/dev/null 2>"$log" || {
	cat "$log" >&2
	exit 1
}
