"""Atomic file writes: a file the package writes is whole or absent, never partial.

Pure standard library, so that :mod:`sk_cria.model` (torch only) writes its
checkpoints through it as the training run and the commands do.
"""

from contextlib import contextmanager
import os
from pathlib import Path
import tempfile

__all__ = ["open_atomic"]


@contextmanager
def open_atomic(path, mode="w"):
    """Open a file to write ``path`` such that ``path`` is never a partial file.

    The files of a training run and of the commands go through here: the
    block writes to a temporary file in the same folder, which is flushed to
    disk and renamed over ``path`` when the block ends. An exception inside
    the block leaves the previous ``path``, if any, and no temporary file; a
    kill leaves the previous ``path`` and at most a stray ``.<name>.*.tmp``.

    Parameters
    ----------
    path : str or path-like
    mode : {"w", "wb"}, default="w"
        Text (UTF-8, line endings written as given, as the csv module
        wants) or binary.

    Yields
    ------
    file : file object
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(handle, mode, **text) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; open() would not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder):
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
