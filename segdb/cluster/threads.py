"""Thread limits for BLAS and OpenMP through one cached threadpoolctl controller.

``threadpool_limits(1)`` finds the loaded BLAS and OpenMP libraries on every call (about 8 ms
here); a refresh limits threads several times, so the controller is built once and reused.
BLAS limits are process-wide: code that runs work on a second thread (segdb.quality) holds
``one_blas_thread()`` around the whole time the thread may run, so that the nested limits taken
and restored on either thread all agree and nothing is left changed afterwards.
"""

from __future__ import annotations

import threading

from threadpoolctl import ThreadpoolController

_lock = threading.Lock()
_controller: ThreadpoolController | None = None


def controller() -> ThreadpoolController:
    global _controller
    with _lock:
        if _controller is None:  # after scikit-learn and numpy are imported: they load the libraries
            _controller = ThreadpoolController()
        return _controller


def one_thread():
    """A context manager: one BLAS and one OpenMP thread inside it."""
    return controller().limit(limits=1)


def one_blas_thread():
    """A context manager: one BLAS thread (process-wide) inside it; OpenMP untouched."""
    return controller().limit(limits=1, user_api="blas")
