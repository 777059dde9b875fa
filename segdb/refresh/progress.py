"""Progress of a refresh on a terminal: one tqdm bar per stage, its clock ticking while it runs.

``stage_bars()`` returns a ``report(stage, state)`` callable for :func:`segdb.refresh.refresh`
(``state`` is "start" or "done"). The CLI uses it only when stderr is a terminal and --quiet is
not given; the stage timings themselves are stored in the run's ``stage_seconds`` either way.
"""

from __future__ import annotations

import shutil
import sys
import threading

from tqdm import tqdm

BAR_FORMAT = "  {desc:<6} |{bar:20}| {elapsed_s:6.2f}s"
TICK_SECONDS = 0.5


def _size() -> tuple[int, int]:
    """(columns, rows) for tqdm, never below 1: some terminals report -1, and tqdm then draws nothing."""
    size = shutil.get_terminal_size((60, 20))
    return (min(60, size.columns) if size.columns > 0 else 60), (size.lines if size.lines > 0 else 20)


def stage_bars(file=None):
    out = file or sys.stderr
    state = {"bar": None, "stop": None}

    def _tick(bar, stop: threading.Event):
        while not stop.wait(TICK_SECONDS):
            bar.refresh()

    def _finish(complete: bool):
        bar, stop = state["bar"], state["stop"]
        if bar is None:
            return
        stop.set()
        if complete:
            bar.update(1)
        bar.close()
        state["bar"] = state["stop"] = None

    def report(stage: str, what: str) -> None:
        if what == "start":
            _finish(False)  # a stage that never said "done" (an error) ends its bar here
            bar = tqdm(total=1, desc=stage, bar_format=BAR_FORMAT, file=out, leave=True,
                       ncols=_size()[0], nrows=_size()[1])
            stop = threading.Event()
            threading.Thread(target=_tick, args=(bar, stop), daemon=True).start()
            state["bar"], state["stop"] = bar, stop
        elif what == "done":
            _finish(True)
    return report
