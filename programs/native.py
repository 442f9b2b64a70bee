"""Running a run natively on the host, the one way every run is run: argv exactly as runs.txt
gives it (argv[0] included, which busybox reads to pick its applet), an empty environment,
/dev/null as stdin and the inputs directory as the working directory."""

import subprocess
from dataclasses import dataclass

TIMEOUT_SECONDS = 120


class NativeRunError(Exception):
    """A run that could not be started or did not finish; the message names the binary."""


@dataclass(frozen=True)
class Outcome:
    stdout: bytes
    status: int
    stderr: bytes


def run_natively(layout, run, wrapper=()):
    """Runs `run` from layout.bin; `wrapper` (e.g. strace and its options) is put in front, in
    which case the wrapper starts the binary by its path (argv[0] is then that path)."""
    binary = layout.binary(run)
    if not binary.is_file():
        raise NativeRunError(f"{binary}: the program is missing (run `make programs`)")
    if wrapper:
        command, executable = [*wrapper, str(binary), *run.argv[1:]], None
    else:
        command, executable = list(run.argv), str(binary)
    try:
        done = subprocess.run(command, executable=executable, cwd=layout.inputs, env={},
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise NativeRunError(f"{binary}: run '{run.name}' did not finish within "
                             f"{TIMEOUT_SECONDS} s") from None
    except OSError as error:
        raise NativeRunError(f"{binary}: cannot start run '{run.name}': {error.strerror}") from None
    return Outcome(done.stdout, done.returncode, done.stderr)
