"""python3 -m programs.compare [--dir DIR] [--status N] RUN OUTPUT
   python3 -m programs.compare [--dir DIR] --all CAPTURED

Compares a run's stdout captured elsewhere (inside pagescope) with the host's, recorded by
`python3 -m programs.prepare` in DIR/expected (DIR defaults to build/programs), by sha256 and
length, and the exit status when one is given. With --all, CAPTURED holds RUN.stdout for every run
of programs/runs.txt and optionally RUN.status (the exit status as a decimal number); a missing
RUN.stdout counts as a difference. Prints one line per run and closes with `N same, N different`.
Exit status: 0 when every compared run matches, 1 when one differs, 2 when the comparison cannot
be made (no expected outputs, an unreadable file; the message names it)."""

import argparse
import hashlib
import sys
from pathlib import Path

from programs.expected import ExpectedError, read_manifest
from programs.runs import DEFAULT_DIR, Layout, RunsError, load_runs


class CompareError(Exception):
    """A comparison that cannot be made; the message names the file."""


def read_bytes(path, what):
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise CompareError(f"{path}: cannot read {what}: {error.strerror}") from None


def first_difference(expected, actual):
    """(byte offset, 1-based line) of the first differing byte, or of the shorter one's end."""
    limit = min(len(expected), len(actual))
    offset = next((i for i in range(limit) if expected[i] != actual[i]), limit)
    return offset, expected[:offset].count(b"\n") + 1


def compare_one(layout, entry, output_path, status=None):
    """Returns (same, message) for one run's captured output against its Expected entry."""
    actual = read_bytes(output_path, f"the captured output of run '{entry.name}'")
    sha = hashlib.sha256(actual).hexdigest()
    problems = []
    if sha != entry.sha256:
        expected_file = layout.expected / f"{entry.name}.stdout"
        where = ""
        if expected_file.is_file():
            offset, line = first_difference(expected_file.read_bytes(), actual)
            where = f"; first difference at byte {offset} (line {line})"
        problems.append(f"stdout differs: host {entry.size} bytes sha256 {entry.sha256} "
                        f"({expected_file}), captured {len(actual)} bytes sha256 {sha} "
                        f"({output_path}){where}")
    if status is not None and status != entry.status:
        problems.append(f"exit status {status}, host {entry.status}")
    if problems:
        return False, f"{entry.name}: DIFFERENT: " + "; ".join(problems)
    return True, (f"{entry.name}: same as the host ({entry.size} bytes, sha256 {entry.sha256}"
                  + (f", exit status {status}" if status is not None else "") + ")")


def captured_status(path):
    if not path.is_file():
        return None
    text = read_bytes(path, "the captured exit status").decode(errors="replace").strip()
    if not text.lstrip("-").isdigit():
        raise CompareError(f"{path}: the exit status should be a decimal number, not {text!r}")
    return int(text)


def main(argv):
    parser = argparse.ArgumentParser(prog="python3 -m programs.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--status", type=int)
    parser.add_argument("--all", type=Path, metavar="CAPTURED")
    parser.add_argument("run", nargs="?")
    parser.add_argument("output", nargs="?", type=Path)
    args = parser.parse_args(argv)
    if (args.all is None) == (args.run is None) or (args.run is None) != (args.output is None):
        parser.error("give either RUN OUTPUT or --all CAPTURED")
    layout = Layout(args.dir.resolve())
    same = different = 0
    try:
        manifest = read_manifest(layout)
        if not manifest:
            raise CompareError(f"{layout.expected}/MANIFEST: no expected outputs recorded "
                               "(run `make programs`)")
        if args.all is None:
            pairs = [(args.run, args.output, args.status)]
        else:
            pairs = [(run.name, args.all / f"{run.name}.stdout",
                      captured_status(args.all / f"{run.name}.status")) for run in load_runs()]
        for name, output, status in pairs:
            if name not in manifest:
                raise CompareError(f"run '{name}' has no expected output in "
                                   f"{layout.expected}/MANIFEST (known: {', '.join(manifest)})")
            if args.all is not None and not output.is_file():
                ok, message = False, f"{name}: DIFFERENT: no captured output {output}"
            else:
                ok, message = compare_one(layout, manifest[name], output, status)
            print(message)
            same, different = same + ok, different + (not ok)
    except (CompareError, ExpectedError, RunsError) as error:
        print(f"programs.compare: {error}", file=sys.stderr)
        return 2
    print(f"compare: {same} same, {different} different")
    return 0 if different == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
