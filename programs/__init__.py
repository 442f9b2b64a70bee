"""Real programs for pagescope: the runs (programs/runs.txt), their inputs, their outputs on the
host, and the comparison of an output captured elsewhere (inside the kernel) with the host's.

The binaries come from scripts/build-programs.sh (make programs) into build/programs/bin/.
Modules: runs (the run definitions and paths), inputs (the input files), expected (host outputs),
compare (checksum comparison), show (a run's files for a harness), syscalls (the strace table in
programs/SYSCALLS.md)."""
