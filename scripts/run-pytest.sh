#!/usr/bin/env bash
# Runs the Python test suite (tests/python) on the given interpreter, Debian's /usr/bin/python3 by
# default: PyPI is not reachable, so the analyzer's dependencies are Debian python3-* packages.
# Arguments after the interpreter (test files, -k EXPR, ...) go to pytest in place of the whole
# suite; paths are taken from the repository's root.
#   scripts/run-pytest.sh [PYTHON [PYTEST-ARGUMENTS...]]
set -uo pipefail
py=${1:-/usr/bin/python3}
shift $(( $# > 0 ? 1 : 0 ))
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
	set -- tests/python
fi
if [ -d tests/python ]; then
	# -rs: a skipped test prints its reason (e.g. tests that need `make programs` done once)
	"$py" -m pytest -q -rs -p no:cacheprovider "$@"
	rc=$?
else
	rc=5
fi
if [ $rc -eq 5 ]; then
	# pytest's "no tests collected": zero tests run is not a pass.
	echo "python: no Python test was collected: zero tests run is not a pass" >&2
	echo "0 passed, 0 failed"
	exit 1
fi
exit $rc
