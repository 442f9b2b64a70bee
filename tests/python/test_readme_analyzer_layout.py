"""The README's drawing of analyzer/ lists every module of every layer package and no other
(it had left out metrics/latency and metrics/ledgers)."""

import re

from conftest import REPO

README = (REPO / "README.md").read_text()


def drawn():
    block = README[README.index("      analyzer/\n"):README.index("__main__.py   the command line")]
    packages, current = {}, None
    for line in block.splitlines()[1:]:
        head = re.match(r"^ {8}(\w+)/\s+(.*)$", line)
        if head:
            current, text = head.group(1), head.group(2)
            packages[current] = set()
        else:
            text = line
        text = re.sub(r"\([^)]*\)", "", text)  # remarks, and "(+ perfetto_processes, ...)"
        packages[current] |= set(re.findall(r"\b([a-z_]+)\b", text))
    return packages


def test_the_drawing_lists_every_module_of_each_package():
    packages = drawn()
    on_disk = {p.name for p in (REPO / "analyzer").iterdir()
               if p.is_dir() and (p / "__init__.py").exists()}
    assert set(packages) == on_disk
    for package, listed in packages.items():
        modules = {m.stem for m in (REPO / "analyzer" / package).glob("*.py")
                   if m.stem != "__init__"}
        subpackages = {d.name for d in (REPO / "analyzer" / package).iterdir()
                       if d.is_dir() and d.name != "__pycache__"}
        # "perfetto (+ perfetto_processes, perfetto_proto, proto/)": the remark names modules too
        remark = re.findall(rf"{package}/\s+.*?\(\+ ([^)]*)\)", README)
        for names in remark:
            listed |= set(re.findall(r"[a-z_]+", names))
        assert listed == modules | subpackages, package
