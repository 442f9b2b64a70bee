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


# ---- the analyzer's layers (Python) ----------------------------------------------------------
# Each analyzer module sits in one layer; it may import from its own layer and the ones below,
# never above. Read bottom-up this is the analyzer's architecture: the format's definitions, the
# readers, the one replay `check` runs, the state and metrics read from that replay, the exports,
# the pictures, the reports, the command line.
ANALYZER = REPO / "analyzer"
LAYERS = [
    ("definitions", {"events", "units", "syscalls", "workload_format", "source_lines", "output",
                     "progressbar", "perfetto_wire", "__init__"}),
    ("reading", {"reader", "summary", "bulk"}),
    ("the one replay", {"replay_ops", "process_replay", "replay"}),
    ("state and metrics", {"frag", "timeline", "state", "counters", "progress", "processes",
                           "attribution", "compare", "mmstat", "verdict", "verdict_figures"}),
    ("export and conversion", {"perfetto_proto", "perfetto_processes", "perfetto", "decode",
                               "flamegraph", "heap_profile", "workload"}),
    ("pictures", {"plots", "program_plots"}),
    ("reports", {"report", "program_report", "allocators"}),
    ("command line", {"__main__"}),
]


def analyzer_imports(path):
    """[(module imported, names imported)] of every relative import in a module, wherever it
    stands (an import inside a function is a dependency all the same)."""
    import ast
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.append((node.module.split(".")[0], {a.name for a in node.names}))
            else:
                found.extend((a.name, set()) for a in node.names)
    return found


def layer_of(module):
    return next((i for i, (_, members) in enumerate(LAYERS) if module in members), None)


def test_every_analyzer_module_has_a_layer_and_imports_only_downwards():
    offences = []
    for path in sorted(ANALYZER.glob("*.py")):
        mine = layer_of(path.stem)
        assert mine is not None, f"analyzer/{path.name} is in no layer of test_layering.LAYERS"
        for module, _ in analyzer_imports(path):
            theirs = layer_of(module)
            if theirs is not None and theirs > mine:
                offences.append(f"analyzer/{path.name} ({LAYERS[mine][0]}) imports {module} "
                                f"({LAYERS[theirs][0]})")
    assert offences == []


def test_the_analyzer_has_no_import_cycle():
    graph = {p.stem: {m for m, _ in analyzer_imports(p)} for p in ANALYZER.glob("*.py")}
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] +
                                                                [module]))
        if module in done or module not in graph:
            return
        path.append(module)
        for dependency in sorted(graph[module]):
            visit(dependency)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_only_state_and_check_run_the_replay():
    """One replay: the trace is replayed by analyzer/state.py for every figure, and by `check`
    (analyzer/__main__.py) over the strict reader; nothing else walks the events to rebuild the
    allocator state its own way."""
    runners = sorted(p.name for p in ANALYZER.glob("*.py") for module, names in
                     analyzer_imports(p) if module == "replay" and
                     names & {"Replay", "check_replay", "FreeSet"})
    assert runners == ["__main__.py", "state.py"]
    recorders = sorted(p.name for p in ANALYZER.glob("*.py") for module, names in
                       analyzer_imports(p) if module == "timeline" and "Recorder" in names)
    assert recorders == ["state.py"]


def test_the_layer_rule_fails_on_an_upward_import(tmp_path, monkeypatch):
    """The rule can fail: a metrics module that imports the report is named."""
    fake = tmp_path / "analyzer"
    fake.mkdir()
    (fake / "frag.py").write_text("from .report import write_report\n")
    (fake / "report.py").write_text("")
    monkeypatch.setitem(globals(), "ANALYZER", fake)
    with pytest.raises(AssertionError, match="frag.py .state and metrics. imports report"):
        test_every_analyzer_module_has_a_layer_and_imports_only_downwards()
