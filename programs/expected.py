"""The host's outputs of every run, recorded as the expected outputs a run inside pagescope must
reproduce: build/programs/expected/NAME.stdout and one MANIFEST line per run.

MANIFEST format, one line per run in runs.txt order, fields separated by one space:
    NAME SHA256-OF-STDOUT STDOUT-BYTES EXIT-STATUS KEY
KEY is the sha256 of what the output depends on: the command line, the binary's bytes and every
input's bytes. A run whose KEY is unchanged is not run again, so a second preparation writes
nothing. A run is recorded only when two native runs agree byte for byte and it exits 0: an output
that varies between runs, or a failed run, cannot serve as the expected output.
"""

import hashlib
from dataclasses import dataclass

from programs.inputs import write_if_changed
from programs.native import run_natively


class ExpectedError(Exception):
    """A run whose output cannot be recorded, or a manifest that cannot be read; the message names
    the run or file."""


@dataclass(frozen=True)
class Expected:
    name: str
    sha256: str
    size: int
    status: int
    key: str


def manifest_path(layout):
    return layout.expected / "MANIFEST"


def read_manifest(layout):
    """Returns {name: Expected}; an absent manifest is empty, a malformed one raises ExpectedError."""
    path = manifest_path(layout)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ExpectedError(f"{path}: cannot read: {error.strerror}") from None
    entries = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split(" ")
        if len(fields) != 5 or not fields[2].isdigit() or not fields[3].lstrip("-").isdigit():
            raise ExpectedError(f"{path}:{number}: expected 'NAME SHA256 BYTES STATUS KEY'")
        name, sha, size, status, key = fields
        entries[name] = Expected(name, sha, int(size), int(status), key)
    return entries


def run_key(layout, run):
    digest = hashlib.sha256()
    for part in (repr(run.argv).encode(), layout.binary(run).read_bytes(),
                 *((layout.inputs / name).read_bytes() for name in run.inputs)):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def record_run(layout, run):
    """Runs `run` natively twice and returns its Expected and stdout; raises ExpectedError when
    the run fails or its two outputs differ."""
    first = run_natively(layout, run)
    if first.status != 0:
        raise ExpectedError(f"run '{run.name}' exited with status {first.status} on the host: "
                            f"{first.stderr.decode(errors='replace').strip()[-500:]}")
    second = run_natively(layout, run)
    if (second.stdout, second.status) != (first.stdout, first.status):
        raise ExpectedError(f"run '{run.name}' is not deterministic on the host: two runs wrote "
                            "different outputs, so neither can be the expected one")
    sha = hashlib.sha256(first.stdout).hexdigest()
    return Expected(run.name, sha, len(first.stdout), first.status, run_key(layout, run)), first.stdout


def record_expected(layout, runs, report=print):
    """Brings layout.expected up to date for `runs`; returns {name: Expected}. `report` gets one
    line per run saying whether it was recorded or already up to date."""
    layout.expected.mkdir(parents=True, exist_ok=True)
    known = read_manifest(layout)
    current = {}
    for run in runs:
        old = known.get(run.name)
        stdout_file = layout.expected / f"{run.name}.stdout"
        if (old is not None and old.key == run_key(layout, run) and stdout_file.is_file()
                and hashlib.sha256(stdout_file.read_bytes()).hexdigest() == old.sha256):
            current[run.name] = old
            report(f"expected: {run.name}: up to date ({old.size} bytes, sha256 {old.sha256})")
            continue
        entry, stdout = record_run(layout, run)
        write_if_changed(stdout_file, stdout)
        current[run.name] = entry
        report(f"expected: {run.name}: recorded {stdout_file} ({entry.size} bytes, "
               f"sha256 {entry.sha256})")
    text = "".join(f"{e.name} {e.sha256} {e.size} {e.status} {e.key}\n" for e in current.values())
    write_if_changed(manifest_path(layout), text.encode())
    return current


def load_selected(layout, names=()):
    """(the runs named, all of them when none is, in the runs file's order or the names', the
    manifest of expected outputs) for a harness; raises RunsError for a name the runs file does
    not know, RunsError or ExpectedError for an unreadable runs file or manifest."""
    from programs.runs import RunsError, load_runs
    runs = load_runs()
    by_name = {run.name: run for run in runs}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise RunsError(f"unknown run {', '.join(unknown)} (known: {', '.join(by_name)})")
    return ([by_name[name] for name in names] if names else runs), read_manifest(layout)
