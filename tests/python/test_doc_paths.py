"""Every file, directory and link the user-facing documents name exists: a path with a slash
(from the repository root or from the document's directory), a bare source file name (somewhere
in the repository), and a Markdown link (from the document's directory). README.md's own paths
are also held by test_readme_claims.py; this covers the other documents the same way, bare names
and links included."""

import re
import subprocess

import pytest

from conftest import REPO

DOCUMENTS = ("README.md", "benchmarks/README.md", "trace/FORMAT.md", "results/README.md",
             "trace/WORKLOAD.md", "benchmarks/workloads/README.md")
# Made by a build, or outside the repository (named for where a figure or rule comes from).
NOT_IN_THE_REPOSITORY = ("build/", "results/report", "report/", "shared/", "results/bench/",
                         "mm/vmstat.c", "mm/page_alloc.c", "results/report-pmm/",
                         "perfetto_trace.proto")  # Perfetto's schema, read from outside
# Names that are not paths of the repository: files a command writes into its output directory,
# and a column heading.
NOT_PATHS = {"compare.txt", "pmm.md", "work/pair"}
SOURCE_SUFFIXES = (".c", ".h", ".S", ".py", ".def", ".md", ".sh", ".csv", ".ld", ".proto",
                   ".txt", ".cfg")


def tracked_files():
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.split()
    return set(out)


def prose(text):
    """The text without fenced blocks, so inline backquotes pair up."""
    return re.sub(r"```.*?```", "", text, flags=re.S)


def named(document):
    text = prose((REPO / document).read_text())
    for token in re.findall(r"`([^`\n]+)`", text):
        token = token.strip()
        if re.fullmatch(r"[\w.-]+(/[\w.*-]+)*/?", token) and not token.startswith(
                NOT_IN_THE_REPOSITORY) and not token.startswith(("-", ".")) and \
                token not in NOT_PATHS:
            if "/" in token or token.endswith(SOURCE_SUFFIXES):
                yield token, "code"
    for target in re.findall(r"\]\(([^)\s#]+)\)", text):
        if not re.match(r"[a-z]+:", target):
            yield target, "link"


def exists(document, token, kind, files):
    here = (REPO / document).parent
    if kind == "link":
        return (here / token).exists()
    if "*" in token:
        return any(re.fullmatch(token.replace(".", r"\.").replace("*", r"[^/]*"), f) for f in files)
    if (REPO / token).exists() or (here / token).exists():
        return True
    # A name relative to a directory the text is about (`include/machine/pte.h` in the layout
    # row of kernel/arch/amd64/, `pmm_buddy.c` among kernel/mm's files): some file ends so.
    return any(f.endswith("/" + token.rstrip("/")) for f in files)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_path_the_document_names_exists(document):
    files = tracked_files()
    tokens = sorted(set(named(document)))
    assert tokens, document
    missing = [t for t, kind in tokens if not exists(document, t, kind, files)]
    assert missing == []
