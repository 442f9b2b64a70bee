"""Named values (owners, zones, regions, VM flags, page sizes...) have one definition, the
TRACE_VALUES groups of trace/events.def: the C enums and name functions generated from it and the
analyzer's tables must say the same thing, value by value."""

import ast
import subprocess

import pytest

from analyzer.definitions.events import FORMAT, FormatDefinitionError, parse_format
from conftest import REPO

# Prints "group number c_name name name_of(number) limit" for every value, through the C side:
# the enumerator's value, the generated c_enum_name() and TRACE_VALUE_LIMIT(c_enum).
DUMP_VALUES = r"""
#include <stdio.h>
#include "trace/trace_values.h"
#define TRACE_DEF_NOTHING(...)
#define TRACE_CONSTANT TRACE_DEF_NOTHING
#define TRACE_STREAM_HEADER TRACE_DEF_NOTHING
#define TRACE_RECORD_HEADER TRACE_DEF_NOTHING
#define TRACE_CHUNK_HEADER TRACE_DEF_NOTHING
#define TRACE_EVENT TRACE_DEF_NOTHING
#define TRACE_STRING_EVENT TRACE_DEF_NOTHING
#define TRACE_ARRAY_EVENT TRACE_DEF_NOTHING
#define TRACE_ATTRIBUTED_EVENT TRACE_DEF_NOTHING
#define TRACE_VALUES(group, c_enum, doc, values)                                   \
    {                                                                                \
        const char *(*name_of)(unsigned) = c_enum##_name;                            \
        const char *group_name = #group;                                             \
        unsigned limit = TRACE_VALUE_LIMIT(c_enum);                                  \
        values                                                                       \
    }
#define VALUE(c_name, number, text)                                                  \
    printf("%s %u %s %s %s %u\n", group_name, (unsigned)(c_name), #c_name, text,     \
           name_of(c_name), limit);
int main(void)
{
#include "trace/events.def"
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_values(tmp_path_factory):
    work = tmp_path_factory.mktemp("values")
    (work / "dump.c").write_text(DUMP_VALUES)
    binary = work / "dump"
    subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", f"-I{REPO}",
                    str(work / "dump.c"), str(REPO / "kernel/trace/trace_values.c"), "-o",
                    str(binary)], check=True)
    rows = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    return [line.split() for line in rows.splitlines()]


def test_c_enums_and_names_equal_the_analyzer_tables(c_values):
    from_c = {}
    for group, number, c_name, text, named, limit in c_values:
        assert text == named, f"{group}: {number} is {text!r}, the C name function says {named!r}"
        from_c.setdefault(group, {})[int(number)] = text
        assert FORMAT.value_names[c_name] == text
        assert FORMAT.value_numbers[c_name] == int(number)
        assert int(limit) == max(FORMAT.values[group]) + 1
    assert from_c == FORMAT.values


def test_the_trace_names_every_owner_zone_region_flag_and_page_size():
    for group in ("owner", "zone", "alloc_zone", "kernel_region", "user_region", "vm_flag",
                  "page_size"):
        assert FORMAT.values[group], group
    assert FORMAT.values["owner"][3] == "slab"
    assert FORMAT.values["page_size"] == {0: "4k", 1: "2m", 2: "1g"}


def test_a_duplicate_value_or_stray_macro_in_a_group_is_refused():
    good = (REPO / "trace" / "events.def").read_text()
    duplicate = good.replace('VALUE(TRACE_CLOCK_FAKE, 1, "fake")',
                             'VALUE(TRACE_CLOCK_FAKE, 0, "fake")')
    assert duplicate != good
    with pytest.raises(FormatDefinitionError, match="duplicate"):
        parse_format(duplicate)
    stray = good.replace('VALUE(TRACE_CLOCK_FAKE, 1, "fake")', 'FIELD(u8, fake)')
    with pytest.raises(FormatDefinitionError, match="expected VALUE"):
        parse_format(stray)


def _literals(path):
    """String literals of a Python file, leaving out docstrings and keys used to look something
    up (table["read"] reads a table, it does not write one)."""
    tree = ast.parse(path.read_text())
    skip = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}
    skip |= {id(node.slice) for node in ast.walk(tree) if isinstance(node, ast.Subscript)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skip}


def test_no_analyzer_module_restates_a_table_of_named_values():
    # Two or more names of one group written out in one module is a copy of that group's table:
    # it must come from FORMAT.values / FORMAT.value_names instead.
    for path in sorted((REPO / "analyzer").rglob("*.py")):
        literals = _literals(path)
        for group, values in FORMAT.values.items():
            restated = sorted(literals & set(values.values()))
            assert len(restated) < 2, f"{path.name} restates the {group} group: {restated}"


def _page_restatements(path, page):
    """Where a module writes the page size as a number: the constant itself, or a shift by its
    log2 (an address to a page frame number)."""
    shift = page.bit_length() - 1
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value == page:
            found.append(node.lineno)
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and \
                isinstance(node.op, (ast.LShift, ast.RShift)) and \
                isinstance(node.right if isinstance(node, ast.BinOp) else node.value, ast.Constant) \
                and (node.right if isinstance(node, ast.BinOp) else node.value).value == shift:
            found.append(node.lineno)
    return found


def test_no_analyzer_module_restates_the_page_size():
    # The page size is events.def's TRACE_PAGE_BYTES (analyzer.definitions.events.PAGE, and
    # PAGE_SHIFT its log2), and workload.def's WORKLOAD_PAGE_SIZE for workload files.
    page = FORMAT.constants["TRACE_PAGE_BYTES"]
    offences = {path.relative_to(REPO).as_posix(): lines
                for path in sorted((REPO / "analyzer").rglob("*.py"))
                if (lines := _page_restatements(path, page))}
    assert offences == {}


def test_the_page_size_rule_can_fail(tmp_path):
    page = FORMAT.constants["TRACE_PAGE_BYTES"]
    shift = page.bit_length() - 1
    module = tmp_path / "m.py"
    module.write_text(f"PAGE = {page}\ndef pfn(a):\n    return a >> {shift}\nx = 1 << 3\n")
    assert _page_restatements(module, page) == [1, 3]
