"""Lines of code counted from the C source, for the verdict's implementation-effort rows.

A line counts when it holds code after comments are removed (blank lines, comment-only lines and
lone braces do not count), so a well-commented file is not charged for its comments.
"""

import re
from pathlib import Path

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def _code_lines(text):
    without_comments = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return [line for line in without_comments.splitlines() if line.strip() not in ("", "{", "}", "};")]


def count_code_lines(paths):
    """Code lines summed over `paths` (files that do not exist count as an error, not as 0)."""
    return sum(len(_code_lines(Path(p).read_text())) for p in paths)


def function_code_lines(path, name):
    """Code lines of the definition of function `name` in `path`, from its signature to its
    closing brace. Raises LookupError when the file defines no such function."""
    text = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), Path(path).read_text())
    match = re.search(r"^[A-Za-z_][^;{}()]*\b" + re.escape(name) + r"\s*\([^;{]*\)\s*\{", text, re.M)
    if match is None:
        raise LookupError(f"{path}: no definition of {name}()")
    depth, end = 0, None
    for i in range(match.end() - 1, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                end = i + 1
                break
    if end is None:
        raise LookupError(f"{path}: {name}() has no closing brace")
    return len(_code_lines(text[match.start():end]))


def ops_member(path, member):
    """The function a `struct vmm_backend_ops` initializer in `path` names for `.member`."""
    match = re.search(r"\." + re.escape(member) + r"\s*=\s*([A-Za-z_]\w*)", Path(path).read_text())
    if match is None:
        raise LookupError(f"{path}: no .{member} in a backend ops table")
    return match.group(1)
