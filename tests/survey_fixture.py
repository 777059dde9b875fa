"""A synthetic survey export for the feature-type tests: Likert items with don't-know / refused
codes, a reverse-worded item, a nominal region and survey weights, from a fixed seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

ITEMS = ["q_price", "q_service", "q_agent_unimportant", "q_online"]
REVERSED = "q_agent_unimportant"   # worded the other way round: 7 means "agent NOT important"
CODES = (8, 9, 99)                 # 8 = don't know, 9 = refused, 99 = not asked
REGIONS = ["North", "South", "East", "West"]


def survey_frame(n: int = 360, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n)
    means = np.array([[6.0, 2.5, 6.0, 5.5],    # price hunters, no agent needed, online
                      [2.5, 6.0, 1.8, 2.0],    # service seekers who want an agent
                      [4.0, 4.0, 4.0, 4.0]])   # in between
    answers = np.clip(np.rint(means[group] + rng.normal(0, 0.9, (n, 4))), 1, 7).astype(int)
    # about 6% of answers are codes, distributed over the three codes
    coded = rng.random((n, 4)) < 0.06
    answers[coded] = rng.choice(CODES, size=int(coded.sum()))
    region_p = np.array([[0.6, 0.2, 0.1, 0.1], [0.1, 0.5, 0.3, 0.1], [0.25, 0.25, 0.25, 0.25]])
    region = [REGIONS[rng.choice(4, p=region_p[g])] for g in group]
    weight = np.round(rng.uniform(0.3, 3.0, n), 3)
    frame = pd.DataFrame(answers, columns=ITEMS)
    frame.insert(0, "respondent_id", np.arange(5001, 5001 + n))
    frame["region"] = region
    frame["weight"] = weight
    return frame


def load_survey(con, frame: pd.DataFrame | None = None, table: str = "survey") -> pd.DataFrame:
    frame = survey_frame() if frame is None else frame
    con.register("survey_frame_src", frame)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM survey_frame_src")
    con.unregister("survey_frame_src")
    return frame


def same_partition(a, b) -> bool:
    """Equal up to renumbering: a one-to-one map between the two labelings."""
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(np.asarray(a).tolist())) == len(set(np.asarray(b).tolist()))


def mapping(ours, theirs) -> dict:
    """segment id of ours -> label of theirs (for a same_partition pair)."""
    return dict(zip(np.asarray(ours).tolist(), np.asarray(theirs).tolist()))


def refresh_where(con, name: str) -> str:
    """How refresh errors name a segmentation's source (the core's wording, e.g. "table t of 'x'")."""
    from segdb.define import definitions
    from segdb.define.definitions import check_source_unchanged

    return check_source_unchanged(con, definitions.get(con, name))[1]
