"""Two `make` runs at once in one checkout (say, one per VMM backend) must not trip over each
other's temporary files: the build id header is written under a name of its own per run."""

import subprocess

from conftest import REPO

ROUNDS = 10


def test_parallel_makes_of_the_build_id_never_fail():
    failures = []
    for _ in range(ROUNDS):
        runs = [subprocess.Popen(["make", "-s", "build/build_id.h"], cwd=REPO, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for _ in range(4)]
        for run in runs:
            output, _ = run.communicate()
            if run.returncode != 0:
                failures.append(output)
    assert failures == [], failures[:3]
    assert (REPO / "build" / "build_id.h").read_text().startswith("#define PAGESCOPE_BUILD_ID ")
    assert not list((REPO / "build").glob("build_id.h.tmp*"))
