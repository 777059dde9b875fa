"""Category features: one-hot in SQL with the documented weighting, shares per segment - against
numpy/pandas one-hot encoding and scikit-learn KMeans on the same matrix."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans

from conftest import run_cli
from segdb.define.categories import MAX_LEVELS
from segdb.errors import DataError
from survey_fixture import CODES, REGIONS, load_survey, mapping, refresh_where, same_partition

NUMERIC = ["q_price", "q_service"]
LEVELS = sorted(REGIONS)  # levels are sorted as text


def define(db, weight=None, scale="zscore"):
    region = {"name": "region", "kind": "category"}
    if weight is not None:
        region["weight"] = weight
    features = [{"name": c, "kind": "likert", "scale_min": 1, "scale_max": 7, "codes": list(CODES)}
                for c in NUMERIC] + [region]
    db.create("cat", source="survey", key="respondent_id", features=features, k=3, scale=scale)


def reference(frame, weight=1.0):
    """Complete rows by key; z-scored items; indicators (x - p) / sqrt(G / weight)."""
    frame = frame.sort_values("respondent_id")
    X = np.array(frame[NUMERIC].to_numpy(dtype=float), copy=True)
    X[np.isin(X, CODES)] = np.nan
    keep = ~np.isnan(X).any(axis=1)
    frame, X = frame[keep], X[keep]
    onehot = pd.get_dummies(frame["region"])[LEVELS].to_numpy(dtype=float)
    p = onehot.mean(axis=0)
    gini = float((p * (1 - p)).sum())
    Z = np.hstack([(X - X.mean(axis=0)) / X.std(axis=0), (onehot - p) / np.sqrt(gini / weight)])
    return frame, Z, p, gini


def labels_of(db):
    t = db.sql("SELECT respondent_id, segment_id FROM cat_segments ORDER BY respondent_id")
    return np.array(t.column("segment_id").to_pylist())


@pytest.mark.parametrize("weight", [None, 3.0])
def test_one_hot_weighting_and_fit_match_reference(db, weight):
    frame = load_survey(db.con)
    define(db, weight)
    run = db.refresh("cat")
    ref_frame, Z, p, gini = reference(frame, weight or 1.0)
    assert run.rows_used == len(ref_frame)
    stats = db.show("cat").feature_stats
    assert [s["feature"] for s in stats] == NUMERIC + [f"region={lv}" for lv in LEVELS]
    ind = stats[len(NUMERIC):]
    assert [s["center"] for s in ind] == pytest.approx(p, rel=1e-7)
    assert [s["scale"] for s in ind] == pytest.approx([np.sqrt(gini / (weight or 1.0))] * 4, rel=1e-7)
    # the documented property: the category's block has total variance = its weight
    assert sum(s["stddev"] ** 2 / s["scale"] ** 2 for s in ind) == pytest.approx(weight or 1.0, rel=1e-7)
    model = KMeans(n_clusters=3, n_init=10, random_state=0).fit(Z)
    ours = labels_of(db)
    assert same_partition(ours, model.labels_)
    m = mapping(ours, model.labels_)
    scaled = db.show("cat").centroid_matrix("value_scaled")
    for sid, vals in scaled.items():
        assert vals == pytest.approx(model.cluster_centers_[m[sid]], rel=1e-7, abs=1e-9)


def test_shares_per_segment_match_pandas(db):
    frame = load_survey(db.con)
    define(db)
    run = db.refresh("cat")
    labels = db.sql("SELECT respondent_id, segment_id FROM cat_segments").to_pandas()
    joined = labels.merge(frame, on="respondent_id")
    expected = joined.groupby("segment_id")["region"].value_counts(normalize=True)
    got = db.category_shares("cat").to_df()
    assert sorted(got["level"].unique()) == LEVELS
    for row in got.itertuples():
        assert row.feature == "region"
        assert row.share == pytest.approx(expected[(row.segment_id, row.level)], rel=1e-12)
        assert row.size == int(((joined.segment_id == row.segment_id) & (joined.region == row.level)).sum())
    assert got.groupby("segment_id")["share"].sum().to_numpy() == pytest.approx(1.0)
    # <name>_centroids: one column per level; a centroid's raw value is the segment's share
    view = db.sql("SELECT * FROM cat_centroids ORDER BY segment_id").to_pandas()
    assert list(view.columns) == ["segment_id", "size", "share", *NUMERIC,
                                  *[f"region={lv}" for lv in LEVELS], "segment_name"]
    for lv in LEVELS:
        exact = got[got.level == lv].set_index("segment_id")["share"].reindex(view.segment_id).fillna(0)
        assert view[f"region={lv}"].to_numpy() == pytest.approx(exact.to_numpy(), abs=1e-3)
    mapping_rows = db.sql("SELECT feature_no, column_name, source_feature, kind, level "
                          "FROM segdb.feature_columns WHERE run_id = ? ORDER BY feature_no",
                          [run.run_id]).to_pylist()
    assert [(r["source_feature"], r["level"]) for r in mapping_rows] == \
        [(c, None) for c in NUMERIC] + [("region", lv) for lv in LEVELS]


def test_minmax_scaling_puts_two_levels_at_weight_distance(db):
    # scale=minmax: indicator / sqrt(2 / w); two rows with different levels are at squared distance w
    db.sql("CREATE TABLE t AS SELECT range AS id, range::DOUBLE AS x, "
           "CASE WHEN range % 2 = 0 THEN 'a' ELSE 'b' END AS c FROM range(8)")
    db.create("mm", source="t", key="id", k=2, scale="minmax",
              features=["x", {"name": "c", "kind": "category", "weight": 0.5}])
    db.refresh("mm")
    stats = db.show("mm").feature_stats
    assert [(s["center"], s["scale"]) for s in stats[1:]] == [(0.0, pytest.approx(2.0)), (0.0, pytest.approx(2.0))]
    # squared distance between levels a and b: 2 * (1 / 2)^2 = 0.5 = w


def test_category_errors(db, db_path):
    db.sql("CREATE TABLE t AS SELECT range AS id, range::DOUBLE AS x, 'same' AS one, "
           "'v' || range AS many, CASE WHEN range = 3 THEN NULL ELSE 'a' || (range % 2) END AS gaps "
           f"FROM range({MAX_LEVELS + 1})")
    db.create("one", source="t", key="id", k=2, features=["x", {"name": "one", "kind": "category"}])
    where = re.escape(refresh_where(db.con, "one"))
    with pytest.raises(DataError, match=r"^category feature 'one' has the single level 'same' on every "
                                        rf"row used of {where}, so it cannot separate segments; drop it$"):
        db.refresh("one")
    db.create("many", source="t", key="id", k=2, features=["x", {"name": "many", "kind": "category"}])
    with pytest.raises(DataError, match=rf"^category feature 'many' has {MAX_LEVELS + 1} levels"):
        db.refresh("many")
    db.create("gaps", source="t", key="id", k=2, nulls="error",
              features=["x", {"name": "gaps", "kind": "category"}])
    where = refresh_where(db.con, "gaps")
    db.close()
    result = run_cli(["refresh", "gaps"], db_path)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: category feature 'gaps' is NULL on 1 rows of {where} and "
                             "nulls=error; fill them, or use --nulls skip or --nulls mean\n")


def test_cli_category_option(db_path):
    import segdb
    with segdb.connect(db_path) as db:
        load_survey(db.con)
    result = run_cli(["create", "cli_cat", "--source", "survey", "--key", "respondent_id",
                      "--feature", "weight", "--category", "region", "--k", "2"], db_path)
    assert result.exit_code == 0, result.output
    assert result.output == ("defined cli_cat (version 1): 2 features, k=2, key respondent_id, "
                             "source survey\n")
    result = run_cli(["refresh", "cli_cat"], db_path)
    assert result.exit_code == 0, result.output
    shown = run_cli(["show", "cli_cat"], db_path).output
    assert "region=East" in shown and "category shares per segment" in shown


def test_definition_for_run_rescores_every_row_in_sql(db):
    # The expanded definition a run used + feature_sql are what SQL scoring needs: nearest-centroid
    # labels computed in SQL from the stored statistics agree with the labels the fit wrote.
    from segdb.living import scoring
    from segdb.define.features import feature_sql
    from segdb.define.definitions import definition_for_run
    from segdb.engines.quoting import quote_identifier

    load_survey(db.con)
    define(db, weight=2.0)
    run = db.refresh("cat")
    d = definition_for_run(db.con, db.definition("cat"), run.run_id)
    summary = db.show("cat")
    assert [f.name for f in d.features] == [s["feature"] for s in summary.feature_stats]
    query = scoring.labelling_query(
        quote_identifier("respondent_id"), [feature_sql(f) for f in d.features], "survey",
        centers=[s["center"] for s in summary.feature_stats],
        scales=[s["scale"] for s in summary.feature_stats],
        centroids=list(summary.centroid_matrix("value_scaled").values()),
        segment_ids=list(summary.centroid_matrix("value_scaled")))
    rescored = db.sql(f"SELECT r.segdb_key, r.segment_id AS again, s.segment_id FROM ({query}) AS r "
                      "JOIN cat_segments AS s ON s.respondent_id = r.segdb_key").to_pandas()
    assert len(rescored) == run.rows_used
    assert (rescored["again"] == rescored["segment_id"]).all()
