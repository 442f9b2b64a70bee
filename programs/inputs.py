"""The runs' input files in build/programs/inputs/: copied from programs/inputs/ (the Lua script,
the SQL), generated from a fixed seed (text.txt for xz, numbers.txt for sort), or derived as the
stdout of another run (text.txt.xz is what the xz-compress run writes).

Generation uses its own linear congruential generator, so the bytes depend on nothing but this
file: the same inputs on every machine and Python version. A file is written (under a temporary
name, then renamed) only when its content differs, so a second preparation changes nothing.
"""

from pathlib import Path

from programs.runs import COMMITTED_INPUTS

TEXT_BYTES = 1024 * 1024
NUMBER_LINES = 40000
# derived input -> the run whose stdout it is
DERIVED = {"text.txt.xz": "xz-compress"}


class InputError(Exception):
    """An input that cannot be written or derived; the message names the file."""


class Lcg:
    """Knuth's MMIX 64-bit LCG; the top bits are used, the low ones are weak."""

    def __init__(self, seed):
        self.state = seed

    def below(self, bound):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (self.state >> 33) % bound


def text_bytes():
    """About TEXT_BYTES of lines of made-up words: repetitive enough to compress, not trivially."""
    rng = Lcg(20)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "en", "or", "ul", "ph", "st", "qu"]
    vocabulary = ["".join(syllables[rng.below(len(syllables))] for _ in range(1 + rng.below(4)))
                  for _ in range(1500)]
    lines, size = [], 0
    while size < TEXT_BYTES:
        line = " ".join(vocabulary[rng.below(len(vocabulary))] for _ in range(4 + rng.below(10)))
        lines.append(line)
        size += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def numbers_bytes():
    """NUMBER_LINES decimal integers below one million, some repeated (sort -u has work to do)."""
    rng = Lcg(7)
    return "".join(f"{rng.below(1000000)}\n" for _ in range(NUMBER_LINES)).encode()


GENERATED = {"text.txt": text_bytes, "numbers.txt": numbers_bytes}


def write_if_changed(path, data):
    """Writes `data` to `path` through a temporary file, only when it differs; True if written."""
    path = Path(path)
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_bytes(data)
        temporary.replace(path)
    except OSError as error:
        raise InputError(f"{path}: cannot write: {error.strerror}") from None
    return True


def prepare_inputs(layout, runs, run_program):
    """Writes every input the runs name into layout.inputs; `run_program(run)` returns a run's
    stdout (used for derived inputs, after the inputs they read). Returns the names of the files
    it (re)wrote; raises InputError naming the file that could not be read or written."""
    layout.inputs.mkdir(parents=True, exist_ok=True)
    by_name = {run.name: run for run in runs}
    wanted = sorted({name for run in runs for name in run.inputs})
    written = []
    for name in wanted:
        if name in DERIVED:
            continue
        if name in GENERATED:
            data = GENERATED[name]()
        else:
            source = COMMITTED_INPUTS / name
            try:
                data = source.read_bytes()
            except OSError as error:
                raise InputError(f"{source}: cannot read the input '{name}': {error.strerror}") from None
        if write_if_changed(layout.inputs / name, data):
            written.append(name)
    for name in wanted:
        if name in DERIVED:
            producer = by_name.get(DERIVED[name])
            if producer is None:
                raise InputError(f"{name}: derived from run '{DERIVED[name]}', which runs.txt lacks")
            if write_if_changed(layout.inputs / name, run_program(producer)):
                written.append(name)
    return written

