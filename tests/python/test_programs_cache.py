"""The real programs' cache (scripts/build-programs.sh, python3 -m programs.prepare) on a copy of
this checkout's build/programs, with PROGRAMS_OFFLINE=1 so that any attempt to fetch fails: a
second run changes nothing, a corrupted binary or source is detected, and the recorded host
outputs agree with what Python computes from the same inputs.

These need the cache that `make programs` leaves (it needs the network once, to fetch the Debian
packages); without it they are skipped with that reason, never run against the network."""

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from programs.expected import read_manifest
from programs.runs import Layout, load_runs

from conftest import REPO

CACHE = REPO / "build" / "programs"
BUILD_SCRIPT = REPO / "scripts" / "build-programs.sh"
PROGRAMS = ("lua", "sqlite3", "xz", "busybox")
PACKAGES = ("lua5.4", "sqlite3", "xz-utils", "busybox-static")


def cache_is_complete():
    return (all((CACHE / "bin" / f"{name}.stamp").is_file() for name in PROGRAMS)
            and all((CACHE / "sources" / pkg / "SHA256SUMS").is_file() for pkg in PACKAGES)
            and (CACHE / "expected" / "MANIFEST").is_file())


pytestmark = pytest.mark.skipif(
    not cache_is_complete(),
    reason=f"{CACHE} holds no complete program cache: run `make programs` once (it fetches "
           "Debian packages over the network); these tests never use the network")


@pytest.fixture
def cache_copy(tmp_path):
    """A copy of build/programs (sources, binaries, inputs, expected outputs), mtimes kept."""
    copy = tmp_path / "programs"
    copy.mkdir()
    for part in ("sources", "bin", "inputs", "expected"):
        shutil.copytree(CACHE / part, copy / part)
    return copy


def build_offline(directory):
    return subprocess.run(["bash", str(BUILD_SCRIPT), str(directory)], capture_output=True,
                          text=True, env={**os.environ, "PROGRAMS_OFFLINE": "1"}, timeout=600)


def prepare(directory):
    return subprocess.run([sys.executable, "-m", "programs.prepare", str(directory)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)


def snapshot(directory):
    """Every file's bytes and mtime under `directory`, logs aside (each step rewrites its log)."""
    return {str(path.relative_to(directory)): (path.stat().st_mtime_ns,
                                               hashlib.sha256(path.read_bytes()).hexdigest())
            for path in sorted(directory.rglob("*"))
            if path.is_file() and "logs" not in path.relative_to(directory).parts}


def stamp_binary(directory, name):
    for line in (directory / "bin" / f"{name}.stamp").read_text().splitlines():
        if line.startswith("binary "):
            return line.split()[1]
    raise AssertionError(f"{name}.stamp has no binary line")


def test_a_second_run_changes_nothing_and_needs_no_network(cache_copy):
    before = snapshot(cache_copy)
    result = build_offline(cache_copy)
    assert result.returncode == 0, result.stderr
    for name in PROGRAMS:
        assert f"programs: {name}: cached" in result.stdout
    result = prepare(cache_copy)
    assert result.returncode == 0, result.stderr
    assert "inputs: 0 written" in result.stdout
    assert result.stdout.count(": up to date (") == len(load_runs())
    assert snapshot(cache_copy) == before


def test_a_corrupted_binary_is_detected_and_made_again_from_the_cached_package(cache_copy):
    binary = cache_copy / "bin" / "busybox"
    good = stamp_binary(cache_copy, "busybox")
    data = bytearray(binary.read_bytes())
    data[len(data) // 2] ^= 0xFF
    binary.write_bytes(bytes(data))
    result = build_offline(cache_copy)
    assert result.returncode == 0, result.stderr
    assert ("busybox: building from Debian package busybox-static: the binary's sha256 differs "
            "from its stamp") in result.stdout
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == good
    for name in ("lua", "sqlite3", "xz"):
        assert f"programs: {name}: cached" in result.stdout


def test_corrupted_sources_are_detected_and_not_built_from(cache_copy):
    (cache_copy / "bin" / "lua").unlink()
    tarball = next((cache_copy / "sources" / "lua5.4").glob("*.orig.tar.*"))
    data = bytearray(tarball.read_bytes())
    data[-1] ^= 0xFF
    tarball.write_bytes(bytes(data))
    result = build_offline(cache_copy)
    assert result.returncode == 1
    assert "lua: building from Debian package lua5.4: the binary is missing" in result.stdout
    assert "lua5.4: cached sources" in result.stdout and "fail their checksums" in result.stdout
    assert "lua5.4: step 'fetch' needs the network, but PROGRAMS_OFFLINE=1" in result.stderr
    assert not (cache_copy / "bin" / "lua").exists()


def test_the_binaries_are_static_and_busybox_is_the_packaged_file():
    for name in PROGRAMS:
        headers = subprocess.run(["readelf", "-lW", str(CACHE / "bin" / name)],
                                 capture_output=True, text=True, check=True).stdout
        assert "INTERP" not in headers, f"{name} asks for a dynamic loader"
        assert "LOAD" in headers
    deb = next((CACHE / "sources" / "busybox-static").glob("*.deb"))
    listing = subprocess.run(f"dpkg-deb --fsys-tarfile '{deb}' | tar -xO ./bin/busybox | sha256sum",
                             shell=True, capture_output=True, text=True, check=True).stdout.split()[0]
    assert listing == stamp_binary(CACHE, "busybox")


def expected_stdout(name):
    return (CACHE / "expected" / f"{name}.stdout").read_bytes()


def test_the_recorded_outputs_agree_with_python_on_the_same_inputs():
    layout = Layout(CACHE)
    manifest = read_manifest(layout)
    assert set(manifest) == {run.name for run in load_runs()}
    assert all(entry.status == 0 for entry in manifest.values())
    numbers = (CACHE / "inputs" / "numbers.txt").read_text().split()
    assert expected_stdout("busybox-sort").decode().split() == sorted(numbers, key=int)
    unique_descending = sorted(set(numbers), key=int, reverse=True)
    assert expected_stdout("busybox-sh-fork").decode().splitlines() == \
        unique_descending + ["sort exited with status 0"]
    assert expected_stdout("xz-decompress") == (CACHE / "inputs" / "text.txt").read_bytes()
    assert expected_stdout("xz-compress") == (CACHE / "inputs" / "text.txt.xz").read_bytes()
    assert expected_stdout("xz-compress").startswith(b"\xfd7zXZ\x00")
    # tables.lua: round r sums i*r for i = 1..100000, over rounds 1..3
    assert expected_stdout("lua-tables").decode().splitlines()[-1] == \
        f"total {sum(r * 100000 * 100001 // 2 for r in (1, 2, 3))}"
    # memory.sql keeps the rows whose id is a multiple of 10 up to 40000
    assert f"4000|{sum(range(10, 40001, 10))}" in expected_stdout("sqlite-memory").decode().splitlines()
