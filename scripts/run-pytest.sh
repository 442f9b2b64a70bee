#!/usr/bin/env bash
# Runs the Python test suite (tests/python) on the given interpreter, Debian's /usr/bin/python3 by
# default: PyPI is not reachable, so the analyzer's dependencies are Debian python3-* packages.
set -uo pipefail
py=${1:-/usr/bin/python3}
cd "$(dirname "$0")/.."
if [ -d tests/python ]; then
	# -rs: a skipped test prints its reason (e.g. tests that need `make programs` done once)
	"$py" -m pytest -q -rs -p no:cacheprovider tests/python
	rc=$?
else
	rc=5
fi
if [ $rc -eq 5 ]; then
	# pytest's "no tests collected": nothing is wrong, but say so plainly rather than pass silently.
	echo "python: no Python tests exist yet"
	echo "0 passed, 0 failed"
	exit 0
fi
exit $rc
