"""scripts/check-layering.sh holds the arch-free core (kernel/lib, boot, mm, trace) away from the
kernel glue and the machine layer: it passes on the repository and fails, naming the file and the
include, on each kind of offence."""

import subprocess

import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "check-layering.sh"


def run(root):
    return subprocess.run(["sh", str(SCRIPT), str(root)], capture_output=True, text=True)


def test_the_repository_keeps_its_layering():
    result = run(REPO)
    assert result.returncode == 0, result.stderr
    assert "include nothing from kernel/core" in result.stdout


@pytest.mark.parametrize("path, include", [
    ("kernel/mm/vmm.h", '#include "kernel/core/options.h"'),
    ("kernel/mm/vmm.c", '#include "kernel/arch/amd64/vm.h"'),
    ("kernel/lib/list.h", '#include "../arch/amd64/cpu.h"'),
    ("kernel/trace/tracer.c", "#include <machine/pte.h>"),
    ("kernel/boot/cmdline.c", '#  include "kernel/drivers/pci.h"'),
    ("kernel/mm/pagetable.c", "#include <machine/cpu.h>"),
])
def test_each_offence_is_reported_with_its_file(tmp_path, path, include):
    target = tmp_path / path
    target.parent.mkdir(parents=True)
    target.write_text(f'#include "kernel/lib/compiler.h"\n{include}\n')
    result = run(tmp_path)
    assert result.returncode == 1
    assert f"{path}:2" in result.stderr


def test_the_page_table_encoding_is_the_core_s_one_window_on_the_machine(tmp_path):
    target = tmp_path / "kernel/mm/pagetable.c"
    target.parent.mkdir(parents=True)
    target.write_text("#include <machine/pte.h>\n")
    assert run(tmp_path).returncode == 0
