#!/bin/sh
# The layering the architecture promises, checked on every `make test-host`: the arch-free code
# (kernel/lib, kernel/boot, kernel/mm, kernel/trace, kernel/exec, and the format in trace/) includes nothing
# from the kernel glue (kernel/core), the drivers or the machine layer (kernel/arch). Its one
# window on the machine is <machine/pte.h>, the page-table encoding, and only kernel/mm opens it.
# Other machine facts reach the core as configuration: <machine/memory_zones.h> (where the pmm's
# zones end) is read by kernel/core, which passes it to pmm_init, and by tests and benchmarks
# that model the kernel's machine; nowhere else.
#
# Usage: scripts/check-layering.sh [repository root]   (exit 0 clean, 1 with each offence listed)
root=${1:-.}
cd "$root" || exit 2
status=0
checked=0
for dir in kernel/lib kernel/boot kernel/mm kernel/trace kernel/exec trace; do
	[ -d "$dir" ] || continue
	for file in "$dir"/*.c "$dir"/*.h "$dir"/*.def; do
		[ -f "$file" ] || continue
		checked=$((checked + 1))
		# Every #include with its target, quoted or bracketed.
		grep -n '^[[:space:]]*#[[:space:]]*include' "$file" | while IFS= read -r line; do
			target=$(printf '%s\n' "$line" | sed -n 's/.*include[[:space:]]*[<"]\([^>"]*\)[>"].*/\1/p')
			case "$target" in
			kernel/core/* | kernel/arch/* | kernel/drivers/* | */core/* | */arch/* | */drivers/* | \
			../core/* | ../arch/* | ../drivers/*)
				echo "layering: $file:${line%%:*} includes $target (the arch-free core must not reach kernel/core, kernel/arch or kernel/drivers)"
				echo x ;;
			machine/pte.h)
				case "$dir" in
				kernel/mm) ;;
				*) echo "layering: $file:${line%%:*} includes <machine/pte.h> (only kernel/mm reads the page-table encoding)"
				   echo x ;;
				esac ;;
			machine/*)
				echo "layering: $file:${line%%:*} includes $target (<machine/pte.h> is the only machine header the core may read)"
				echo x ;;
			esac
		done >"${TMPDIR:-/tmp}/layering.$$"
		if grep -q '^x$' "${TMPDIR:-/tmp}/layering.$$"; then
			grep -v '^x$' "${TMPDIR:-/tmp}/layering.$$" >&2
			status=1
		fi
		rm -f "${TMPDIR:-/tmp}/layering.$$"
	done
done
# Who may read the zone ends: everyone else gets them from the pmm (pmm_zone_end) or the trace.
zone_readers=$(grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]machine/memory_zones\.h[>"]' \
	--include='*.c' --include='*.h' --include='*.def' --exclude-dir=build --exclude-dir=.git . 2>/dev/null |
	sed 's|^\./||' | grep -vE '^(kernel/core|kernel/arch|tests|benchmarks)/')
if [ -n "$zone_readers" ]; then
	printf 'layering: %s includes <machine/memory_zones.h> (only kernel/core, tests and benchmarks configure zones)\n' \
		$zone_readers >&2
	status=1
fi
if [ "$checked" -eq 0 ]; then
	echo "layering: no arch-free source found under $root" >&2
	exit 2
fi
if [ $status -eq 0 ]; then
	echo "layering: $checked arch-free files include nothing from kernel/core, kernel/arch or kernel/drivers"
fi
exit $status
