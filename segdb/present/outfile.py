"""Writing a report or a picture whole or not at all.

The file is written to a temporary file beside the target and renamed over it only when complete,
so a full disk or a failure halfway leaves no 0-byte or partial file under the target's name (and an
older report there stays as it was).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..store.failures import os_error


def write_whole(path: Path, write: Callable[[object], None]) -> Path:
    """Call ``write`` with a binary file object, then put what it wrote at ``path`` in one rename."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        error = os_error(exc, where=str(path))
        if error is None:
            raise
        raise error from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.remove(tmp)
    return path
