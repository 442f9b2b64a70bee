"""The test programs (tests/programs/) and the bad ELF inputs on the host, without pagescope: each
run of program_cases.CASES passes its own checks on Linux (exit 0, or the status its case names;
the SIGSEGV cases die with 139 after printing the line before the fault), prints the same bytes
twice (no address, pid, time or random byte leaks into a transcript, so the host's output can be
pagescope's expected output), and a program's checks can fail (wrong data gives FAILED and
status 1). The bad ELF generator makes exactly the one defect each input is named after."""

import struct
import sys

import pytest

import program_cases as pc
from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "programs"))
import bad_elf  # noqa: E402  (a script of tests/programs, imported for its constants)

EXPECTED_HOST_STATUS = {"hello": 42}


@pytest.fixture(scope="module", autouse=True)
def programs():
    pc.build_programs()


@pytest.mark.parametrize("libc", pc.LIBCS)
@pytest.mark.parametrize("case", pc.CASES, ids=lambda c: c.name)
def test_program_passes_its_checks_on_the_host_and_repeats_its_transcript(case, libc, tmp_path):
    first = pc.run_on_host(case, libc, tmp_path / "first")
    expected = pc.SIGSEGV_STATUS if case.killed else EXPECTED_HOST_STATUS.get(case.name, 0)
    assert first.status == expected, (first.stdout + first.stderr).decode(errors="replace")
    assert b"FAILED" not in first.stdout + first.stderr
    assert first.stdout, "a program with no output proves nothing"
    if case.killed:
        fault = case.args[0]
        assert first.stdout == fault + b": about to fault\n"
    second = pc.run_on_host(case, libc, tmp_path / "second")
    assert second == first


@pytest.mark.parametrize("libc", pc.LIBCS)
def test_checks_fail_when_the_data_is_wrong(libc, tmp_path, monkeypatch):
    """files.c given a data.txt of other bytes says FAILED and exits 1."""
    case = next(c for c in pc.CASES if c.name == "files")
    monkeypatch.setattr(pc, "DATA_TEXT", pc.DATA_TEXT[:-1] + b"?")
    outcome = pc.run_on_host(case, libc, tmp_path)
    assert outcome.status == 1
    assert b"FAILED" in outcome.stdout and b"some checks FAILED" in outcome.stdout


@pytest.mark.parametrize("libc", pc.LIBCS)
def test_a_fault_that_does_not_kill_is_reported(libc, tmp_path):
    """segv.c with an unknown fault name exits 2 without faulting (it says so)."""
    case = pc.Case("segv_unknown", "segv", args=(b"no-such-fault",))
    outcome = pc.run_on_host(case, libc, tmp_path)
    assert outcome.status == 2 and b"unknown fault" in outcome.stdout


def _phdrs(elf):
    phoff, = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    return [struct.unpack_from("<IIQQQQQQ", elf, phoff + i * phentsize) for i in range(phnum)]


def test_bad_elf_inputs_each_have_their_one_defect():
    good = pc.binary("musl", "hello").read_bytes()
    made = {p.name: p.read_bytes() for p in (pc.PROGRAMS / "bad-elf").iterdir()
            if not p.name.startswith(".")}
    assert set(made) == {"truncated", "corrupt", "other-machine", "dynamic", "not-an-elf"}
    loads = [h for h in _phdrs(good) if h[0] == 1]
    assert made["truncated"] == good[:len(good) // 2]
    assert max(h[2] + h[5] for h in loads) > len(made["truncated"]), "a segment must reach past the end"
    corrupt_phoff, = struct.unpack_from("<Q", made["corrupt"], 32)
    assert corrupt_phoff > len(made["corrupt"]) and made["corrupt"][40:] == good[40:]
    assert struct.unpack_from("<H", made["other-machine"], 18)[0] == bad_elf.EM_AARCH64
    assert made["other-machine"][:18] == good[:18] and made["other-machine"][20:] == good[20:]
    interp = [h for h in _phdrs(made["dynamic"]) if h[0] == bad_elf.PT_INTERP]
    assert len(interp) == 1
    offset, size = interp[0][2], interp[0][5]
    assert made["dynamic"][offset:offset + size] == bad_elf.INTERPRETER
    assert not made["not-an-elf"].startswith(b"\x7fELF")


def test_bad_elf_refuses_an_input_that_is_not_a_static_executable(tmp_path):
    script = tmp_path / "script"
    script.write_bytes(b"#!/bin/sh\n")
    assert bad_elf.main([str(script), str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
