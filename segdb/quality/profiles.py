"""Segment profiles, computed by the database: what makes each segment different.

Per run, segment and feature (``segdb.profiles``): the segment's mean in source units, its
difference from the population mean in population standard deviations (``z_diff``, the population
being every row used, as in ``segdb.feature_stats``), and Cohen's d of the segment against the rest
of the rows (``effect_size``: difference of the two means over the pooled sample standard deviation,
sqrt((M2_segment + M2_rest) / (n - 2))). ``rank`` orders a segment's features by |d|, largest first.
Means are over non-NULL values (no NULL reaches a label under nulls=skip, the default).

The statement joins the run's labels (``segdb."<name>_labels"``) with the source on the key and
groups by segment, so it runs inside the write-back transaction, after the labels are inserted. A
run whose labels are written in SQL reads the same labelling query again instead (``labelled``):
no join of two tables of every row.
Values are centred on the population mean before summing, so the rest-of-population figures derived
from per-segment sums do not lose precision on large numbers.
"""

from __future__ import annotations


from ..define.definitions import Definition
from .describe import LevelShare, describe_profile
from ..define.features import keyed_values_relation
from ..store.sqlfiles import load_sql
from ..engines.base import Engine


def profile_query(d: Definition, relation: str, labelled: str | None = None,
                  moments: int | None = None) -> str:
    """INSERT ... SELECT of one run's profiles. Parameters: per feature (feature_no, feature, label,
    population mean, population sd), then the population means again (one per feature), then run_id
    twice (once with ``labelled``). Build the parameter list with :func:`profile_params`.

    ``labelled``: a query giving every used row's ``segment_id`` and feature values ``segdb_f1 ..``
    (segdb.refresh.scalable.labelled_values, for runs whose labels are written in SQL), read instead of
    joining the run's stored labels with the source.

    ``moments``: the number of segments whose per-feature count, mean and population variance of
    the centred values are given as parameters instead (segdb.refresh.pg_write computes them from
    the fitted matrix): no pass over any table; the parameters are then the feature rows, per
    segment (segment_id, then n, mean and variance per feature), and run_id once."""
    nf = len(d.features)
    feature_rows = ", ".join(["(?::INTEGER, ?::VARCHAR, ?::VARCHAR, ?::DOUBLE, ?::DOUBLE)"] * nf)
    centred = ",\n           ".join(
        f"segdb_values.segdb_f{i} - ? AS x{i}" for i in range(1, len(d.features) + 1))
    per_segment = ",\n           ".join(
        f"count(x{i}) AS n{i}, avg(x{i}) AS m{i}, var_pop(x{i}) AS v{i}" for i in range(1, nf + 1))

    def by_feature(column):  # the per-segment column of the row's feature
        return "CASE f.feature_no " + " ".join(f"WHEN {i} THEN p.{column}{i}" for i in range(1, nf + 1)) + " END"
    # one row per segment and feature by a join with the features, not a UNION ALL of per_segment
    # per feature: per_segment (a scoring pass over every row) is then read once, not once per
    # feature, on an engine that does not materialise a CTE referenced more than once (Spark)
    long = (f"SELECT p.segment_id, f.feature_no, {by_feature('n')} AS n, {by_feature('m')} AS m, "
            f"coalesce({by_feature('v')}, 0) * {by_feature('n')} AS m2\n"
            "    FROM per_segment AS p CROSS JOIN features AS f")
    if moments is not None:
        row = "(" + ", ".join(["?::INTEGER"] + ["?::BIGINT, ?::DOUBLE, ?::DOUBLE"] * nf) + ")"
        names = ", ".join(["segment_id"] + [f"n{i}, m{i}, v{i}" for i in range(1, nf + 1)])
        head = f"per_segment({names}) AS (VALUES {', '.join([row] * moments)})"
    elif labelled is None:
        rows = (f"FROM {d.labels_table} AS labels\n"
                f"    JOIN {keyed_values_relation(d, relation)} AS segdb_values\n"
                "      ON segdb_values.segdb_key = labels.segdb_key\n"
                "    WHERE labels.run_id = ?")
        segment = "labels.segment_id"
    else:
        rows, segment = f"FROM ({labelled}) AS segdb_values", "segdb_values.segment_id"
    if moments is None:
        head = f"""joined AS (
    SELECT {segment},
           {centred}
    {rows}
),
per_segment AS (
    SELECT segment_id,
           {per_segment}
    FROM joined GROUP BY segment_id
)"""
    return f"""INSERT INTO segdb.profiles (run_id, segment_id, feature_no, feature, label, n_values,
                            mean_raw, z_diff, effect_size, rank)
WITH features(feature_no, feature, label, pop_mean, pop_sd) AS (VALUES {feature_rows}),
{head},
long AS (
    {long}
),
with_rest AS (
    SELECT *,
           (sum(n) OVER w) - n AS n_rest,
           (sum(n * m) OVER w) - n * m AS s_rest,
           (sum(m2) OVER w) - m2 AS m2_others,
           (sum(n * m * m) OVER w) - n * m * m AS nmm_others
    FROM long WINDOW w AS (PARTITION BY feature_no)  -- (sum() OVER w) - n: Spark reads `w - n` as one name
),
effects AS (
    SELECT *,
           CASE WHEN n_rest > 0 THEN s_rest / n_rest END AS m_rest,
           -- M2 of the rest: within-segment M2 plus between-segment spread around the rest's mean
           m2_others + nmm_others - CASE WHEN n_rest > 0 THEN s_rest * s_rest / n_rest ELSE 0 END AS m2_rest
    FROM with_rest
),
scored AS (
    SELECT e.segment_id, e.feature_no, f.feature, f.label, e.n,
           e.m + f.pop_mean AS mean_raw,
           CASE WHEN f.pop_sd > 0 THEN e.m / f.pop_sd END AS z_diff,
           CASE WHEN e.n + e.n_rest > 2 AND e.n > 0 AND e.n_rest > 0
                     AND greatest(e.m2 + e.m2_rest, 0) > 0
                THEN (e.m - e.m_rest) / sqrt(greatest(e.m2 + e.m2_rest, 0) / (e.n + e.n_rest - 2))
           END AS effect_size
    FROM effects AS e JOIN features AS f ON f.feature_no = e.feature_no
)
SELECT ?, segment_id, feature_no, feature, label, n, mean_raw, z_diff, effect_size,
       row_number() OVER (PARTITION BY segment_id
                          ORDER BY abs(effect_size) DESC NULLS LAST, feature_no) AS rank
FROM scored"""


def profile_params(d: Definition, stats, run_id: int, labelled: bool = False, moments=None) -> list:
    params: list = []
    for i, (f, s) in enumerate(zip(d.features, stats), start=1):
        params += [i, f.name, f.display, s.mean, s.stddev]
    if moments is not None:
        return params + [v for row in moments for v in row] + [run_id]
    params += [s.mean for s in stats]
    return params + ([run_id] if labelled else [run_id, run_id])


def figures_from_moments(stats, moments) -> list[list]:
    """The rows for :func:`profile_query`'s ``moments`` (per segment, ascending ids: segment_id,
    then per feature the count, the mean and the population variance of its values centred on the
    population mean) from the moments of the matrix of every used row
    (segdb.quality.metrics.ClusterMoments; the matrix holds z = (x - center) / scale, so a mean is
    center + scale * mean(z) and a variance scale^2 * var(z)). Only for a matrix without filled
    values (not under nulls='mean', where the profiles count only the values present)."""
    rows = []
    for j, segment_id in enumerate(moments.ids):
        n = float(moments.sizes[j])
        row: list = [int(segment_id)]
        for i, s in enumerate(stats):
            mean = moments.means[j, i] * s.scale + (s.center - s.mean)
            row += [int(n), float(mean), float(moments.squares[j, i] / n * s.scale * s.scale)]
        rows.append(row)
    return rows


def write_profiles(con: Engine, d: Definition, relation: str, stats, run_id: int,
                   labelled: str | None = None, moments=None) -> dict[int, str]:
    """Insert the run's profiles; returns its segments' descriptions made from them (and from the
    run's category shares, written before in the same transaction). The write-back stores them
    with the segments rows, written after this: a segments row is written once, complete (on
    Spark an UPDATE would be a copy of segdb.segments and two table renames). ``moments``: one
    row per segment, see :func:`profile_query`."""
    con.execute(profile_query(d, relation, labelled, None if moments is None else len(moments)),
                profile_params(d, stats, run_id, labelled is not None, moments))
    return descriptions(read_profiles(con, run_id), category_levels(con, run_id), level_shares(con, run_id))


def read_profiles(con: Engine, run_id: int) -> list[dict]:
    rel = con.execute(load_sql("run_profiles"), [run_id])
    names = [c[0] for c in rel.description]
    return [dict(zip(names, r)) for r in rel.fetchall()]


def category_levels(con: Engine, run_id: int) -> dict[str, tuple[str, str]]:
    """Indicator column name -> (category feature, level), from the run's ``segdb.feature_columns``
    (empty for a run without category features)."""
    rows = con.execute("SELECT column_name, source_feature, level FROM segdb.feature_columns "
                       "WHERE run_id = ? AND kind = 'category' ORDER BY feature_no", [run_id]).fetchall()
    return {column: (feature, level) for column, feature, level in rows}


def level_shares(con: Engine, run_id: int) -> dict[int, dict[str, list[LevelShare]]]:
    """Segment id -> category feature -> its levels' shares in the segment and overall, counted
    from ``segdb.category_shares`` (customers, unweighted like the profiles). A level absent from
    a segment has share 0 there; the overall share counts every segment's customers, NULLs included."""
    rows = con.execute(load_sql("run_category_shares"), [run_id]).fetchall()
    totals: dict[str, int] = {}
    per_level: dict[tuple[str, str], int] = {}
    segment_sizes: dict[tuple[int, str], int] = {}
    for segment_id, feature, level, size, *_ in rows:
        totals[feature] = totals.get(feature, 0) + size
        segment_sizes[segment_id, feature] = segment_sizes.get((segment_id, feature), 0) + size
        if level is not None:
            per_level[feature, level] = per_level.get((feature, level), 0) + size
    found = {(s, f, lv): size for s, f, lv, size, *_ in rows}
    out: dict[int, dict[str, list[LevelShare]]] = {}
    for (segment_id, feature), n in segment_sizes.items():
        out.setdefault(segment_id, {})[feature] = [
            LevelShare(level, found.get((segment_id, feature, level), 0) / n, total / totals[feature])
            for (f, level), total in sorted(per_level.items()) if f == feature]
    return out


def descriptions(rows: list[dict], categories: dict[str, tuple[str, str]] | None = None,
                 shares: dict[int, dict[str, list[LevelShare]]] | None = None) -> dict[int, str]:
    """Segment id -> one line from its profile rows (ranked by effect size). ``categories``: the
    run's indicator columns (:func:`category_levels`); ``shares``: :func:`level_shares`."""
    by_segment: dict[int, list[dict]] = {}
    for r in rows:
        by_segment.setdefault(r["segment_id"], []).append(r)
    out = {}
    for s, rs in by_segment.items():
        described = {}
        for r in rs:
            if r["feature"] in (categories or {}):
                feature, level = categories[r["feature"]]
                label = r["label"][:-len(level) - 1] if r["label"].endswith(f"={level}") else feature
                described[r["feature"]] = (feature, label, (shares or {}).get(s, {}).get(feature, []))
        out[s] = describe_profile(sorted(rs, key=lambda r: r["rank"]), categories=described)
    return out


