"""An exclusive lock on a file, waited for up to a timeout, that names its holder.

Spark's local metastore (Derby, in the warehouse folder) admits one JVM at a time; a second one
fails with thousands of lines of Derby errors. segdb.engines.spark takes this lock on the
warehouse before it starts a local session, so a second segdb process waits for the first (or
stops in one line naming it) and never starts its JVM meanwhile.

fcntl locks belong to the open file: a killed process's lock goes with it, and a stale lock file
left behind is no lock.
"""

from __future__ import annotations

import os
import sys
import time

from ..errors import LockedError

POLL_SECONDS = 0.2


class FileLock:
    """Holds ``path`` locked (exclusively) until :meth:`release`."""

    def __init__(self, fd: int, path: str):
        self._fd = fd
        self.path = path

    def release(self) -> None:
        if self._fd is None:
            return
        import fcntl
        try:
            os.ftruncate(self._fd, 0)  # no holder named any more
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


def holder_of(path: str) -> str:
    """What the lock file says of its holder: 'pid N: command', or '' if it says nothing."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return " ".join(fh.read().split())[:200]
    except OSError:
        return ""


def acquire(path: str, timeout: float, what: str, on_wait=None) -> FileLock:
    """Lock ``path`` (created if missing), waiting up to ``timeout`` seconds; then
    :class:`LockedError`: '<what> is in use by another process (pid N: command); ...'.
    ``on_wait(message)`` is called once if the lock is not free at once."""
    import fcntl
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + max(0.0, timeout)
    said = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = holder_of(path)
                named = f" ({holder})" if holder else ""
                if time.monotonic() >= deadline:
                    raise LockedError(f"{what} is in use by another process{named}; wait for it to finish "
                                      "or stop it, or raise lock_timeout") from None
                if not said and on_wait is not None:
                    on_wait(f"waiting up to {timeout:g} s for {what}: another process uses it{named}")
                said = True
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join([os.path.basename(sys.argv[0] or 'python'), *sys.argv[1:]])}\n"
                  .encode("utf-8", "replace"), 0)
    except BaseException:
        os.close(fd)
        raise
    return FileLock(fd, path)
