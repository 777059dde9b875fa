"""The boundaries of a refresh's stages: their seconds, the progress callback and listeners.

A refresh runs the stages "check", "stats", "fetch", "scan" (a k scan only), "fit", "score" (a
bounded fit only), "quality", "rules" (the segment rules' tree, segdb.quality.rules) and "write", in
this order; their seconds are stored under these names
in the run's ``stage_seconds``. Every boundary is reported as ``(stage, event)``:

* ``(stage, "start")``: before the stage's work (its clock not yet running);
* ``(stage, "done")``: after it (its seconds recorded, its result not yet used);
* ``("write", point)``: inside the write-back transaction (segdb.refresh.writeback), ``point`` one
  of :data:`WRITE_POINTS`: "write_labels" (the run id drawn, no label written yet),
  "labels_written", "views" (every row written, the views not yet switched), "commit_record" (the
  run row written, the commit record next), "commit" (everything written, COMMIT next; on Spark
  the commit record is written, its views and scoring functions not yet) and "committed" (just
  after COMMIT).

Two kinds of observers get them, in this order: the ``progress`` callback of one refresh
(segdb.refresh.progress draws a bar per "start"/"done" and ignores the points), and the listeners
added with :func:`listening`, which see every refresh of the process (the crash-safety tests pause
a real ``segdb`` process at a named point with one: tests/paused_segdb.py). An observer that raises
fails the refresh.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping

Listener = Callable[[str, str], None]

WRITE_POINTS = ("write_labels", "labels_written", "views", "commit_record", "commit", "committed")

_listeners: tuple[Listener, ...] = ()


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call ``listener(stage, event)`` at every boundary of every refresh while the block runs."""
    global _listeners
    _listeners = (*_listeners, listener)
    try:
        yield
    finally:
        _listeners = tuple(x for x in _listeners if x is not listener)


class Stages:
    """Runs a refresh's stages: reports their boundaries and records their seconds.

    The seconds are never changed in place: each stage replaces the mapping, and :attr:`seconds`
    hands out a copy, so whatever took it keeps what it took.
    """

    def __init__(self, progress: Listener | None = None):
        self._progress = progress
        self._seconds: Mapping[str, float] = {}

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds per stage run so far, in the order they ran."""
        return dict(self._seconds)

    def report(self, stage: str, event: str) -> None:
        if self._progress is not None:
            self._progress(stage, event)
        for listener in _listeners:
            listener(stage, event)

    def run(self, stage: str, work: Callable, *args, **kwargs):
        """``work(*args, **kwargs)`` as the stage ``stage``: its result, its seconds recorded."""
        self.report(stage, "start")
        started = time.perf_counter()
        try:
            return work(*args, **kwargs)
        finally:  # a failed stage is "done" too: its progress bar ends with it
            self._seconds = {**self._seconds, stage: round(time.perf_counter() - started, 4)}
            self.report(stage, "done")

    def around(self, stage: str, work: Callable, *args, **kwargs):
        """``work`` as a stage that records its own seconds (the write-back stores them inside its
        transaction); "done" is reported only when it succeeds."""
        self.report(stage, "start")
        result = work(*args, **kwargs)
        self.report(stage, "done")
        return result
