"""Writing output files so that a failure never leaves a partial one behind and never destroys
what the user had.

Every file and directory the analyzer writes goes through this module (one path for all writers):
it is written under a temporary name next to the target and renamed into place only once it is
complete; on any exception the temporary is removed and an existing target is left as it was.

    with atomic_file(path, "w") as f:                  # or "wb"
        f.write(...)
    with atomic_directory(path, inputs=[...]) as d:    # d: a pathlib.Path to fill
        (d / "index.html").write_text(...)

Invariants:
- a failed write (disk full, no permission, read-only file system) raises OutputError naming the
  file the user asked for (never the temporary, never an input) and the reason;
- atomic_directory replaces only a directory that it made itself (it carries REPORT_MARKER) and
  never one that holds, or is, one of the command's inputs; anything else at the path (a user's
  directory, a file, the current directory) is refused with OutputRefused before any work;
- the directory it makes gets the permissions a new directory would get (0777 minus the umask),
  not mkdtemp's private 0700.
"""

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

# An empty file in every directory atomic_directory made: its proof that replacing the directory
# destroys nothing the user wrote.
REPORT_MARKER = ".pagescope-report"

# Error numbers that only writing produces: an OSError with one of these is a write failure even
# when it does not name the file (a full disk often surfaces at close, without a file name).
_WRITE_ONLY_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


class OutputError(Exception):
    """A file the user asked for could not be written: `path` (the target) and `reason`."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: cannot write: {reason}")
        self.path, self.reason = path, reason


class OutputRefused(Exception):
    """The output path holds something this command must not replace: `path` and `reason`."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _temporary_name(path):
    return path.parent / f".{path.name}.partial-{os.getpid()}"


def _is_write_failure(error, temporary):
    """True when `error` came from writing `temporary` (a file, or a directory and its contents)."""
    if error.errno in _WRITE_ONLY_ERRNOS:
        return True
    for name in (error.filename, getattr(error, "filename2", None)):
        if name is not None:
            named = Path(os.path.abspath(name))
            if named == temporary or temporary in named.parents:
                return True
    return False


@contextmanager
def atomic_file(path, mode="w", **open_args):
    """Opens a temporary file beside `path`; renames it to `path` when the block ends normally,
    removes it when the block raises. OutputError when the file cannot be written."""
    path = Path(path)
    temporary = Path(os.path.abspath(_temporary_name(path)))
    try:
        with open(temporary, mode, **open_args) as f:
            yield f
        os.replace(temporary, path)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        if _is_write_failure(e, temporary):
            raise OutputError(path, e.strerror or str(e)) from None
        raise
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _refuse_unless_replaceable(path, inputs):
    """OutputRefused unless `path` is absent or a directory atomic_directory made that holds
    none of `inputs`."""
    resolved = path.resolve()
    for given in inputs:
        source = Path(given).resolve()
        if source == resolved or resolved in source.parents:
            raise OutputRefused(path, f"is or holds the input {given}; choose another output "
                                      "directory")
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir():
        raise OutputRefused(path, "exists and is not a report directory; remove it or choose "
                                  "another output directory")
    if not (path / REPORT_MARKER).is_file():
        raise OutputRefused(path, f"exists and was not written by pagescope (no {REPORT_MARKER} "
                                  "in it); remove it or choose another output directory")


def _new_directory_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


@contextmanager
def atomic_directory(path, inputs=()):
    """Yields an empty temporary directory beside `path`; when the block ends normally it
    replaces `path` (an existing report directory there is removed only after the new one is
    complete), when the block raises it is removed. OutputRefused, before the block runs, when
    `path` is something else (see the module's invariants); OutputError when writing fails."""
    path = Path(os.path.abspath(path))
    _refuse_unless_replaceable(path, inputs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
        os.chmod(temporary, _new_directory_mode())
    except OSError as e:
        raise OutputError(path, e.strerror or str(e)) from None
    try:
        (temporary / REPORT_MARKER).touch()
        yield temporary
        if path.exists():
            _refuse_unless_replaceable(path, inputs)  # it may have changed while we worked
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(temporary, path)
            shutil.rmtree(old)
        else:
            os.replace(temporary, path)
    except OSError as e:
        shutil.rmtree(temporary, ignore_errors=True)
        if _is_write_failure(e, temporary):
            raise OutputError(path, e.strerror or str(e)) from None
        raise
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
