"""The run definitions (programs/runs.txt) and where everything of the real programs lives.

A run is a program from build/programs/bin/ with a fixed command line, input files and an empty
environment; `load_runs` refuses a malformed line with its file and line number rather than
guessing, so every consumer (prepare, compare, syscalls, the kernel's harness) sees the same runs.
"""

import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS_FILE = REPO / "programs" / "runs.txt"
COMMITTED_INPUTS = REPO / "programs" / "inputs"
DEFAULT_DIR = REPO / "build" / "programs"


class RunsError(Exception):
    """A runs file that cannot be read or parsed; the message names the file (and line)."""


@dataclass(frozen=True)
class Run:
    name: str
    inputs: tuple
    argv: tuple

    @property
    def program(self):
        """The binary's name in build/programs/bin/."""
        return self.argv[0]


@dataclass(frozen=True)
class Layout:
    """The directories of one build/programs tree (scripts/build-programs.sh writes bin/)."""
    root: Path

    @property
    def bin(self):
        return self.root / "bin"

    @property
    def inputs(self):
        return self.root / "inputs"

    @property
    def expected(self):
        return self.root / "expected"

    def binary(self, run):
        return self.bin / run.program


def load_runs(path=RUNS_FILE):
    """Returns the runs of `path` in file order; raises RunsError naming the file and line."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise RunsError(f"{path}: cannot read the runs file: {error.strerror}") from None
    runs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("|", 2)
        if len(fields) != 3:
            raise RunsError(f"{path}:{number}: expected 'NAME | INPUT FILES | ARGV'")
        name, inputs, command = (field.strip() for field in fields)
        try:
            argv = tuple(shlex.split(command))
        except ValueError as error:
            raise RunsError(f"{path}:{number}: bad quoting in the command line: {error}") from None
        if not name or not argv:
            raise RunsError(f"{path}:{number}: a run needs a name and a command line")
        if any(run.name == name for run in runs):
            raise RunsError(f"{path}:{number}: run '{name}' is defined twice")
        runs.append(Run(name, tuple(inputs.split()), argv))
    if not runs:
        raise RunsError(f"{path}: defines no run")
    return runs
