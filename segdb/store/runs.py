"""A run's bookkeeping: who triggered it, when, and its number within its segmentation."""

from __future__ import annotations

import getpass
import socket
from datetime import datetime, timezone


from ..errors import redact_secrets
from .sqlfiles import load_sql
from ..engines.base import Engine

def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def default_trigger(kind: str = "api") -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"{kind} by {user}@{socket.gethostname()}"


def trigger_of(triggered_by: str | None) -> str:
    """What segdb.runs.triggered_by (and the rollback and drift rows) store: the caller's text without any
    password (segdb.errors.redact_secrets), else who and where."""
    return redact_secrets(triggered_by) if triggered_by else default_trigger()


def run_ordinal(con: Engine, run_id: int | None) -> int | None:
    """The run's number within its own segmentation (1 = its first run; see sql/run_row.sql), or
    None for a run id that is not recorded."""
    if run_id is None:
        return None
    rows = con.execute(load_sql("run_ordinal"), [run_id]).fetchall()
    return int(rows[0][0]) if rows else None


def run_label(run_id, ordinal=None) -> str:
    """How a run is named to a person: 'run 7 (its 2nd run)'. Run ids are shared by every
    segmentation, so the ordinal (the run's number within its own segmentation) says which of
    its runs it is; without one (a run that is not recorded), just 'run 7'."""
    if ordinal is None:
        return f"run {run_id}"
    return f"run {run_id} (its {ordinal_word(ordinal)} run)"


def ordinal_word(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    n = int(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
