"""`python3 -m programs.pagescope --out DIR` writes DIR whole under a temporary name: it refuses a
directory (or file) pagescope did not make and leaves it untouched, keeps a previous output intact
when the boots fail midway, and replaces a previous output only once the new one is complete.
The boots are replaced by stand-ins here (the real boots are tests/python/test_programs.py's);
what is under test is where the files go."""

from pathlib import Path

import pytest

import programs.pagescope as pagescope
from analyzer.definitions.output import atomic_directory
from programs.runs import load_runs

RUN = load_runs()[0]


@pytest.fixture
def cache(tmp_path):
    """A program cache holding the first run's binary, its inputs and its MANIFEST line."""
    root = tmp_path / "programs"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / RUN.program).write_bytes(b"\x7fELF stand-in")
    (root / "inputs").mkdir()
    for name in RUN.inputs:
        (root / "inputs" / name).write_bytes(b"input stand-in\n")
    (root / "expected").mkdir()
    (root / "expected" / f"{RUN.name}.stdout").write_bytes(b"the host's output\n")
    (root / "expected" / "MANIFEST").write_text(f"{RUN.name} {'0' * 64} 0 0 {'1' * 64}\n")
    return root


def run(cache, out):
    return pagescope.main(["--elf", "/nonexistent/kernel.elf", "--out", str(out), "--dir",
                           str(cache), RUN.name])


def test_a_users_directory_is_refused_and_left_untouched(cache, tmp_path, monkeypatch, capsys):
    booted = []
    monkeypatch.setattr(pagescope, "boot_all", lambda *a: booted.append(a) or 0)
    user = tmp_path / "mine"
    (user / "sub").mkdir(parents=True)
    (user / "notes.txt").write_text("precious\n")
    assert run(cache, user) == 2
    assert str(user) in capsys.readouterr().err
    assert (user / "notes.txt").read_text() == "precious\n" and (user / "sub").is_dir()
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt", "sub"]
    assert booted == []  # refused before anything ran
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "programs"]  # no leftovers


def test_a_users_file_is_refused_and_left_untouched(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(pagescope, "boot_all", lambda *a: 0)
    user = tmp_path / "notes.txt"
    user.write_text("precious\n")
    assert run(cache, user) == 2
    assert user.read_text() == "precious\n"


def previous_output(path):
    with atomic_directory(path) as out:
        (out / "old.stdout").write_text("from the last run\n")


def test_boots_that_fail_midway_leave_the_previous_output_whole(cache, tmp_path, monkeypatch):
    out = tmp_path / "out"
    previous_output(out)

    def boots_then_break(elf, layout, chosen, manifest, into, *options):
        (into / f"{RUN.name}-pagetable.stdout").write_text("half\n")
        raise KeyboardInterrupt  # the user stops it after the first boot

    monkeypatch.setattr(pagescope, "boot_all", boots_then_break)
    with pytest.raises(KeyboardInterrupt):
        run(cache, out)
    assert sorted(p.name for p in out.iterdir() if p.suffix) == ["old.stdout"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "programs"]  # no partial dir


def test_a_complete_run_replaces_the_previous_output(cache, tmp_path, monkeypatch):
    out = tmp_path / "out"
    previous_output(out)

    def boots(elf, layout, chosen, manifest, into, *options):
        assert not (into / "old.stdout").exists()  # written beside, not into, the old output
        (into / f"{RUN.name}-pagetable.stdout").write_text("new\n")
        return 0

    monkeypatch.setattr(pagescope, "boot_all", boots)
    assert run(cache, out) == 0
    assert sorted(p.name for p in out.iterdir() if p.suffix) == [f"{RUN.name}-pagetable.stdout"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "programs"]


def test_pmm_and_backend_choose_the_boots_and_the_kernel_log_is_kept(cache, tmp_path,
                                                                     monkeypatch):
    """--backend pagetable --pmm tlsf: one boot, under vmm=pagetable with pmm=tlsf on the
    kernel's command line, its kernel log kept beside its trace (make report-pmm reads the log's
    pmm-cost line)."""
    import subprocess
    from types import SimpleNamespace

    import programs.boot as boot
    commands = []

    def qemu(command, **kwargs):
        commands.append(command)
        log = Path(command[command.index("--serial-log") + 1])
        log.write_text(f"program: run {RUN.name}: exit status 0, stdout 0 bytes, stderr 0 "
                       "bytes\npmm-cost: pmm=tlsf: 1 allocs in 9 ticks (worst 9), 1 frees in 5 "
                       "ticks (worst 5), through the kernel page source\n")
        return SimpleNamespace(returncode=0, stdout=b"")

    monkeypatch.setattr(boot.subprocess, "run", qemu)
    out = tmp_path / "out"
    status = pagescope.main(["--elf", "/nonexistent/kernel.elf", "--out", str(out), "--dir",
                             str(cache), "--backend", "pagetable", "--pmm", "tlsf", RUN.name])
    assert status == 1  # the stand-in cache's MANIFEST expects other bytes: a difference
    assert len(commands) == 1
    args = commands[0][commands[0].index("--args") + 1].split()
    assert "vmm=pagetable" in args and "pmm=tlsf" in args, args
    assert "pmm-cost: pmm=tlsf" in (out / "runs-pagetable.log").read_text()
    assert subprocess  # the real module stays untouched outside programs.boot
