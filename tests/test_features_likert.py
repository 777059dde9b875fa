"""Likert items: declared scales, don't-know / refused codes read as NULL, reversed items - all in
SQL - against the same steps done independently in numpy + scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from conftest import run_cli, table_checksums
from segdb.define.features import Feature
from segdb.errors import DefinitionError
from survey_fixture import CODES, ITEMS, REVERSED, load_survey, mapping, refresh_where, same_partition


def likert_features():
    return [{"name": c, "kind": "likert", "scale_min": 1, "scale_max": 7, "codes": list(CODES),
             "reverse": c == REVERSED} for c in ITEMS]


def reference_matrix(frame, nulls: str):
    """Codes -> NaN, reverse (8 - x), then drop (skip) or fill with the mean (mean), by key."""
    frame = frame.sort_values("respondent_id")
    X = np.array(frame[ITEMS].to_numpy(dtype=float), copy=True)
    X[np.isin(X, CODES)] = np.nan
    j = ITEMS.index(REVERSED)
    X[:, j] = 1 + 7 - X[:, j]
    keys = frame["respondent_id"].to_numpy()
    if nulls == "skip":
        keep = ~np.isnan(X).any(axis=1)
        X = X[keep]
        return keys[keep], X, X.mean(axis=0), X.std(axis=0)
    # nulls=mean: statistics over the answers given; the missing ones take the mean
    means, sds = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    return keys, np.where(np.isnan(X), means, X), means, sds


def segdb_labels(db, name):
    t = db.sql(f"SELECT respondent_id, segment_id FROM {name}_segments ORDER BY respondent_id")
    return np.array(t.column("respondent_id").to_pylist()), np.array(t.column("segment_id").to_pylist())


@pytest.mark.parametrize("nulls", ["skip", "mean"])
def test_likert_matches_numpy_and_sklearn(db, nulls):
    frame = load_survey(db.con)
    db.create("lik", source="survey", key="respondent_id", features=likert_features(), k=3,
              nulls=nulls)
    run = db.refresh("lik")
    keys, X, mu, sd = reference_matrix(frame, nulls)
    assert run.rows_used == len(keys)
    # statistics: NULL counts are the codes, means and sds those of the answers used
    stats = db.show("lik").feature_stats
    coded = np.isin(frame[ITEMS].to_numpy(), CODES).sum(axis=0)
    assert [s["n_null"] for s in stats] == coded.tolist()
    assert [s["mean"] for s in stats] == pytest.approx(mu, rel=1e-7)
    assert [s["stddev"] for s in stats] == pytest.approx(sd, rel=1e-7)
    # the fit: z-scores + KMeans on the same rows in the same (key) order
    model = KMeans(n_clusters=3, n_init=10, random_state=0).fit((X - mu) / sd)
    ours_keys, ours = segdb_labels(db, "lik")
    assert ours_keys.tolist() == keys.tolist()
    assert same_partition(ours, model.labels_)
    centers = model.cluster_centers_ * sd + mu
    if nulls == "skip":  # the same as scikit-learn's StandardScaler on the complete rows
        assert StandardScaler().fit_transform(X) == pytest.approx((X - mu) / sd, rel=1e-7, abs=1e-9)
    m = mapping(ours, model.labels_)
    got = db.show("lik").centroid_matrix("value_raw")
    for sid, vals in got.items():
        assert vals == pytest.approx(centers[m[sid]], rel=1e-7)


def test_reversed_item_and_codes_worked_by_hand(db):
    # 1..5 scale, reversed: 1->5, 2->4, 5->1; 9 is "refused" -> NULL (skipped). Second item plain.
    db.sql("CREATE TABLE t AS SELECT * FROM (VALUES (1, 1, 10.0), (2, 2, 20.0), (3, 5, 30.0), "
           "(4, 9, 40.0), (5, 4, 50.0)) v(id, item, x)")
    db.create("toy", source="t", key="id", k=2, scale="none", features=[
        Feature("item", kind="likert", scale_min=1, scale_max=5, codes=(9,), reverse=True), "x"])
    run = db.refresh("toy")
    assert (run.rows_used, run.rows_skipped) == (4, 1)
    item = db.show("toy").feature_stats[0]
    # reversed values 5, 4, 1, 2 over the rows used
    assert (item["n_null"], item["min"], item["max"]) == (1, 1.0, 5.0)
    assert item["mean"] == pytest.approx(3.0) and item["stddev"] == pytest.approx(np.sqrt(2.5))
    cols = db.sql("SELECT expression FROM segdb.feature_columns WHERE run_id = ? ORDER BY feature_no",
                  [run.run_id]).column("expression").to_pylist()
    reversed_values = db.sql(f"SELECT {cols[0]} AS v FROM t ORDER BY id").column("v").to_pylist()
    assert reversed_values == [5.0, 4.0, 1.0, None, 2.0]


def test_value_outside_scale_is_refused_naming_column_value_and_rows(db, db_path):
    frame = load_survey(db.con)
    frame.loc[frame.index[:2], "q_service"] = 12
    frame.loc[frame.index[5], "q_service"] = 0
    load_survey(db.con, frame)
    db.create("lik", source="survey", key="respondent_id", features=likert_features(), k=3)
    where = refresh_where(db.con, "lik")
    db.close()
    before = table_checksums(db_path)
    result = run_cli(["refresh", "lik"], db_path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: feature 'q_service' (column 'q_service') has the value 12 on 2 rows of {where} "
        "(and 1 other out-of-scale values), outside its scale 1..7 and not one of its codes "
        "(8, 9, 99); add it to codes or fix the data\n")
    assert table_checksums(db_path) == before


def test_likert_spec_errors():
    with pytest.raises(DefinitionError, match=r"^likert feature 'q' needs its scale, e.g. scale = \[1, 7\]$"):
        Feature("q", kind="likert")
    with pytest.raises(DefinitionError, match="code 4 lies inside its scale 1..7"):
        Feature("q", kind="likert", scale_min=1, scale_max=7, codes=(4, 9))
    with pytest.raises(DefinitionError, match="the scale 7..1 is empty"):
        Feature("q", kind="likert", scale_min=7, scale_max=1)
    with pytest.raises(DefinitionError, match="of type numeric cannot have reverse"):
        Feature("q", reverse=True)
    with pytest.raises(DefinitionError, match="unknown type 'ordinal'"):
        Feature("q", kind="ordinal")


def test_plain_definition_json_is_unchanged_and_old_json_loads(db):
    db.sql("CREATE TABLE t AS SELECT range AS id, range * 1.5 AS x, range % 3 AS y FROM range(10)")
    db.create("plain", source="t", key="id", features=["x", "y"], k=2)
    stored = db.sql("SELECT features FROM segdb.definitions WHERE segmentation = 'plain'")
    assert stored.column("features").to_pylist() == ['[{"name": "x"}, {"name": "y"}]']
    assert db.definition("plain").features == (Feature("x"), Feature("y"))
    typed = Feature("q", kind="likert", scale_min=1, scale_max=5, codes=[9], reverse=True)
    assert Feature(**typed.to_json()) == typed
    assert typed.to_json() == {"name": "q", "kind": "likert", "scale_min": 1, "scale_max": 5,
                               "codes": [9], "reverse": True}
