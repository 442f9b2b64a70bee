#!/usr/bin/env bash
# Records real programs' memory behaviour with strace and converts each log into a workload file
# the kernel can replay (scenario=replay, make trace WORKLOAD=FILE).
#   scripts/make-workloads.sh OUTDIR
# Writes OUTDIR/NAME.strace (the log) and OUTDIR/NAME.psw (the workload) for each program below.
set -euo pipefail
out=${1:?usage: $0 OUTDIR}
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
out=$(cd "$out" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# record NAME CLASSES COMMAND...: runs COMMAND under strace (-e trace=CLASSES) and converts it.
record() {
	local name=$1 classes=$2
	shift 2
	echo "== $name: $*"
	(cd "$scratch" && strace -f -ttt -e trace="$classes" -o "$out/$name.strace" "$@" >/dev/null)
	(cd "$here" && "$py" -m analyzer workload "$out/$name.strace" -o "$out/$name.psw" --name "$name: $*")
}

printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' >"$scratch/hello.c"
head -c 4000000 /dev/urandom | od -An -tx1 >"$scratch/data.txt"

record gcc-compile memory,process gcc -O2 -c hello.c -o hello.o
record python-dict memory,process "$py" -c 'd = {i: str(i) for i in range(300000)}; print(len(d))'
record git-log memory,process git -C "$here" log --oneline -50
record xz-threads memory,process xz -T2 -1 -k -c data.txt
record shell-pipeline memory,process sh -c 'seq 20000 | sort -n | uniq | wc -l'
record ls-memory-only memory ls -l /usr/bin
echo "workloads: $(ls "$out"/*.psw | wc -l) written to $out"
