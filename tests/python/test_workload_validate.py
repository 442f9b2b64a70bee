"""The kernel's workload validator (kernel/workload/workload_file.c, built natively here) and the
Python reader (analyzer/definitions/workload_format.py) implement the same rules from the same definition:
on the committed workloads and on thousands of seeded random corruptions of them, both accept
the same files and refuse the others at the same byte offset."""

import random
import shutil
import subprocess

import pytest

from analyzer.definitions import workload_format as wf

from conftest import FIXTURES, REPO

SOURCES = ["kernel/workload/workload_file.c", "kernel/lib/format.c", "kernel/lib/string.c"]
WORKLOADS = sorted((REPO / "benchmarks" / "workloads").glob("*.psw"))


@pytest.fixture(scope="module")
def validator(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required to build the validator")
    binary = tmp_path_factory.mktemp("validator") / "validate_workload"
    subprocess.run(["gcc", "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
                    "-DPAGESCOPE_HOST", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=undefined", f"-I{REPO}",
                    str(FIXTURES / "validate_workload.c"), *[str(REPO / s) for s in SOURCES],
                    "-o", str(binary)], check=True)
    return binary


def kernel_verdicts(validator, paths):
    out = subprocess.run([str(validator), *map(str, paths)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert len(out) == len(paths)
    return out


def python_verdict(data):
    try:
        return f"ok {len(wf.decode(data).ops)}"
    except wf.WorkloadError as e:
        return f"refused {e.offset}"


def mutate(rng, data):
    data = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:  # a byte changed
        data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:  # cut short
        del data[rng.randrange(len(data)):]
    elif kind == 2:  # bytes inserted
        at = rng.randrange(len(data))
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    else:  # a small field bumped, often a length, count or process number
        at = rng.randrange(len(data))
        data[at] = (data[at] + rng.choice((1, 255, 8))) % 256
    return bytes(data)


def test_committed_workloads_are_accepted_by_both(validator):
    assert WORKLOADS
    verdicts = kernel_verdicts(validator, WORKLOADS)
    assert verdicts == [python_verdict(p.read_bytes()) for p in WORKLOADS]
    assert all(v.startswith("ok ") for v in verdicts)


def test_both_validators_agree_on_random_corruptions(validator, tmp_path):
    rng = random.Random(20261129)
    cases = []
    for i in range(2000):
        source = WORKLOADS[i % len(WORKLOADS)].read_bytes()
        path = tmp_path / f"case{i}.psw"
        path.write_bytes(mutate(rng, source))
        cases.append(path)
    kernel = kernel_verdicts(validator, cases)
    refused = 0
    for path, verdict in zip(cases, kernel):
        expected = python_verdict(path.read_bytes())
        got = verdict if verdict.startswith("ok") else " ".join(verdict.split()[:2])
        assert got == expected, f"{path.name}: kernel says {verdict!r}, Python {expected!r}"
        refused += expected.startswith("refused")
    assert refused > 1000  # most corruptions break a rule; the others must read the same
