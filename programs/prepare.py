"""python3 -m programs.prepare [DIR]: writes the runs' inputs (DIR/inputs) and their expected
outputs, recorded on the host with the same binaries (DIR/expected); DIR defaults to
build/programs, where `make programs` has built DIR/bin. Exit status 0 when every run is recorded,
1 when one could not be (the message names it and the file), 2 for bad usage."""

import sys
from pathlib import Path

from programs.expected import ExpectedError, record_expected
from programs.inputs import InputError, prepare_inputs
from programs.native import NativeRunError, run_natively
from programs.runs import DEFAULT_DIR, Layout, RunsError, load_runs


def derived_stdout(layout):
    def produce(run):
        outcome = run_natively(layout, run)
        if outcome.status != 0:
            raise InputError(f"run '{run.name}' exited with status {outcome.status} while "
                             f"producing a derived input: {outcome.stderr.decode(errors='replace')}")
        return outcome.stdout
    return produce


def main(argv):
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    layout = Layout((Path(argv[0]) if argv else DEFAULT_DIR).resolve())
    try:
        runs = load_runs()
        written = prepare_inputs(layout, runs, derived_stdout(layout))
        print(f"inputs: {len(written)} written, the others up to date, in {layout.inputs}")
        record_expected(layout, runs)
    except (RunsError, InputError, NativeRunError, ExpectedError) as error:
        print(f"programs.prepare: FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
