"""python3 -m programs.show [--dir DIR] [RUN...]: prints, as one JSON object per line, what a
harness needs to run each run (all of them when none is named) somewhere else: its name, argv,
the binary, the input files (absolute paths in DIR, default build/programs) and the expected
stdout's sha256, size and exit status (null until `make programs` recorded them).
Exit status 0, 1 for an unknown run or an unreadable runs file or manifest, 2 for bad usage."""

import argparse
import json
import sys
from pathlib import Path

from programs.expected import ExpectedError, load_selected
from programs.runs import DEFAULT_DIR, Layout, RunsError


def describe(layout, run, manifest):
    entry = manifest.get(run.name)
    return {"name": run.name, "argv": list(run.argv), "binary": str(layout.binary(run)),
            "inputs": [str(layout.inputs / name) for name in run.inputs],
            "expected_stdout": str(layout.expected / f"{run.name}.stdout"),
            "expected_sha256": entry.sha256 if entry else None,
            "expected_bytes": entry.size if entry else None,
            "expected_status": entry.status if entry else None}


def main(argv):
    parser = argparse.ArgumentParser(prog="python3 -m programs.show", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("runs", nargs="*", metavar="RUN")
    args = parser.parse_args(argv)
    layout = Layout(args.dir.resolve())
    try:
        runs, manifest = load_selected(layout, args.runs)
    except (RunsError, ExpectedError) as error:
        print(f"programs.show: {error}", file=sys.stderr)
        return 1
    for run in runs:
        print(json.dumps(describe(layout, run, manifest)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
