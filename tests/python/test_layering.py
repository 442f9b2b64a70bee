"""scripts/check-layering.sh holds the arch-free core (kernel/lib, boot, mm, trace) away from the
kernel glue and the machine layer: it passes on the repository and fails, naming the file and the
include, on each kind of offence."""

import subprocess
from pathlib import Path

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
# Each analyzer package is one layer (the package a module lives in is its layer); a module may
# import from its own layer and the ones below, never above. Read bottom-up this is the analyzer's
# architecture: the format's definitions, the readers, the one replay `check` runs, the state and
# metrics read from that replay, the exports, the pictures, the reports, and the command line
# (the modules at the top, analyzer/__main__.py).
ANALYZER = REPO / "analyzer"
LAYERS = ["definitions", "reading", "checking", "metrics", "export", "pictures", "reports"]
TOP = len(LAYERS)  # analyzer/__init__.py and __main__.py: the command line


def layer_name(layer):
    return LAYERS[layer] if layer < TOP else "command line"


def module_path(root, path):
    """('metrics', 'frag') for analyzer/metrics/frag.py, ('__main__',) for analyzer/__main__.py,
    ('metrics',) for analyzer/metrics/__init__.py."""
    parts = path.relative_to(root).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts


def analyzer_imports(root, path):
    """[(module path imported, names imported)] of every analyzer import in a module, wherever it
    stands (an import inside a function is a dependency all the same), each resolved to a path
    inside the analyzer as module_path gives it: `from ..checking.replay import Replay` in
    analyzer/metrics/state.py is (('checking', 'replay'), {'Replay'})."""
    import ast
    here = path.relative_to(root).parts[:-1]  # the package the module lives in
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
            target = base + (tuple(node.module.split(".")) if node.module else ())
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "analyzer":
            target = tuple(node.module.split(".")[1:])
        else:
            continue
        names = {a.name for a in node.names}
        if node.module is None or (root / Path(*target) / "__init__.py").exists():
            # `from . import counters` or `from ..metrics import counters`: modules, one each
            found.extend((target + (name,), set()) for name in names
                         if (root / Path(*target) / f"{name}.py").exists())
        else:
            found.append((target, names))
    return found


def layer_of(module):
    """The layer of a module path: its package's, or the command line for the top modules; None
    for a package that is no layer."""
    if len(module) == 1:
        return TOP
    return LAYERS.index(module[0]) if module[0] in LAYERS and len(module) == 2 else None


def analyzer_modules(root):
    return sorted(root.rglob("*.py"))


def test_every_analyzer_module_has_a_layer_and_imports_only_downwards(root=ANALYZER):
    offences = []
    for path in analyzer_modules(root):
        name = path.relative_to(root).as_posix()
        mine = layer_of(module_path(root, path))
        assert mine is not None, (f"analyzer/{name} is in no layer: its package is not one of "
                                  f"test_layering.LAYERS")
        for module, _ in analyzer_imports(root, path):
            theirs = layer_of(module)
            if theirs is not None and theirs > mine:
                offences.append(f"analyzer/{name} ({layer_name(mine)}) imports "
                                f"{'.'.join(module)} ({layer_name(theirs)})")
    assert offences == []


def test_the_analyzer_has_no_import_cycle(root=ANALYZER):
    graph = {module_path(root, p): {m for m, _ in analyzer_imports(root, p)}
             for p in analyzer_modules(root)}
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(
                ".".join(m) for m in path[path.index(module):] + [module]))
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
    """One replay: the trace is replayed by analyzer/metrics/state.py for every figure, and by
    `check` (analyzer/__main__.py) over the strict reader; nothing else walks the events to
    rebuild the allocator state its own way, and only state.py hands the replay the recorders
    (timeline.Recorder, ledgers.Ledgers) every figure reads."""
    def importers(module, wanted):
        return sorted(p.relative_to(ANALYZER).as_posix() for p in analyzer_modules(ANALYZER)
                      for imported, names in analyzer_imports(ANALYZER, p)
                      if imported == module and names & wanted)
    assert importers(("checking", "replay"), {"Replay", "check_replay", "FreeSet"}) == \
        ["__main__.py", "metrics/state.py"]
    assert importers(("metrics", "timeline"), {"Recorder"}) == ["metrics/state.py"]
    assert importers(("metrics", "ledgers"), {"Ledgers"}) == ["metrics/state.py"]


def fake_analyzer(tmp_path, files):
    root = tmp_path / "analyzer"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
        if "/" in name:
            (root / name).parent.joinpath("__init__.py").touch()
    return root


def test_the_layer_rule_passes_on_downward_and_same_layer_imports(tmp_path):
    root = fake_analyzer(tmp_path, {
        "metrics/frag.py": "from ..checking.replay import Replay\nfrom . import timeline\n",
        "metrics/timeline.py": "from ..definitions.events import FORMAT\n",
        "checking/replay.py": "from ..reading import bulk\n",
        "reading/bulk.py": "",
        "definitions/events.py": "",
        "__main__.py": "from .reports.report import write_report\n",
        "reports/report.py": "from analyzer.metrics.frag import x\n",
    })
    test_every_analyzer_module_has_a_layer_and_imports_only_downwards(root)
    test_the_analyzer_has_no_import_cycle(root)


@pytest.mark.parametrize("text", ["from ..reports.report import write_report\n",
                                  "def late():\n    from ..reports import report\n",
                                  "from analyzer.reports.report import write_report\n"])
def test_the_layer_rule_fails_on_an_upward_import(tmp_path, text):
    """The rule can fail: a metrics module that imports the report is named, however it spells
    the import."""
    root = fake_analyzer(tmp_path, {"metrics/frag.py": text, "reports/report.py": ""})
    with pytest.raises(AssertionError,
                       match=r"metrics/frag.py \(metrics\) imports reports.report \(reports\)"):
        test_every_analyzer_module_has_a_layer_and_imports_only_downwards(root)


def test_the_layer_rule_fails_on_a_module_outside_the_layers(tmp_path):
    root = fake_analyzer(tmp_path, {"helpers/misc.py": ""})
    with pytest.raises(AssertionError, match="analyzer/helpers/misc.py is in no layer"):
        test_every_analyzer_module_has_a_layer_and_imports_only_downwards(root)


def test_the_cycle_rule_fails_on_a_cycle_within_a_layer(tmp_path):
    """The cycle rule can fail: two metrics modules that import each other (allowed by the layer
    rule, both in one layer) are named in order."""
    root = fake_analyzer(tmp_path, {"metrics/frag.py": "from .bulkfrag import series\n",
                                    "metrics/bulkfrag.py": "from . import frag\n"})
    test_every_analyzer_module_has_a_layer_and_imports_only_downwards(root)
    with pytest.raises(AssertionError,
                       match="import cycle: metrics.bulkfrag -> metrics.frag -> metrics.bulkfrag"):
        test_the_analyzer_has_no_import_cycle(root)
