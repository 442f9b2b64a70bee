"""Writing output files so that a failure never leaves a partial one behind.

Every subcommand that writes a file or a directory writes it under a temporary name next to the
target and renames it into place only once it is complete; on any exception the temporary is
removed and an existing target is left as it was.

    with atomic_file(path, "w") as f:        # or "wb"
        f.write(...)
    with atomic_directory(path) as d:        # d: a pathlib.Path to fill
        (d / "index.html").write_text(...)
"""

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _temporary_name(path):
    return path.parent / f".{path.name}.partial-{os.getpid()}"


@contextmanager
def atomic_file(path, mode="w", **open_args):
    """Opens a temporary file beside `path`; renames it to `path` when the block ends normally,
    removes it when the block raises."""
    path = Path(path)
    temporary = _temporary_name(path)
    try:
        with open(temporary, mode, **open_args) as f:
            yield f
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_directory(path):
    """Yields an empty temporary directory beside `path`; when the block ends normally it
    replaces `path` (an existing directory there is removed only after the new one is complete),
    when the block raises it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        yield temporary
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(temporary, path)
            shutil.rmtree(old)
        else:
            os.replace(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
