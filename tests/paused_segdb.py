"""The real `segdb` command line, paused at a named point of its refresh (crash and lock tests).

    python tests/paused_segdb.py --db PATH refresh NAME

runs segdb.cli.main with a listener (segdb.refresh.stages.listening) that stops at the point named
by the environment:

SEGDB_TEST_PAUSE_AT       the point: a stage ("check", "stats", "fetch", "scan", "fit", "score",
                          "quality", "write") before its work, "<stage>_done" after it, or a point
                          inside the write transaction: "write_labels", "labels_written", "views",
                          "commit_record" (before the commit record), "commit" (just
                          before COMMIT; on Spark after the commit record), "committed"
SEGDB_TEST_PAUSE_MARKER   a file the point's name is written to when the refresh gets there
SEGDB_TEST_PAUSE_SECONDS  how long to wait there (default 30)
SEGDB_TEST_PAUSE_RELEASE  a file: go on as soon as it exists

Without SEGDB_TEST_PAUSE_AT it is plain `segdb`.
"""

from __future__ import annotations

import os
import time

from segdb.cli import main
from segdb.refresh.stages import listening


def point_name(stage: str, event: str) -> str:
    """The name a pause point has: "<stage>", "<stage>_done" or the write-back's point."""
    if event == "start":
        return stage
    if event == "done":
        return f"{stage}_done"
    return event


def pause(stage: str, event: str) -> None:
    point = point_name(stage, event)
    if os.environ.get("SEGDB_TEST_PAUSE_AT") != point:
        return
    marker = os.environ.get("SEGDB_TEST_PAUSE_MARKER")
    if marker:
        with open(marker, "w", encoding="utf-8") as fh:
            fh.write(point)
    seconds = float(os.environ.get("SEGDB_TEST_PAUSE_SECONDS", "30"))
    release = os.environ.get("SEGDB_TEST_PAUSE_RELEASE")  # go on as soon as this file exists
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (release and os.path.exists(release)):
        time.sleep(0.02)


if __name__ == "__main__":
    with listening(pause):
        main()
