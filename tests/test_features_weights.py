"""Survey weights: weighted mean and sd in SQL, sample_weight in the fit, weighted sizes and shares -
against numpy (np.average) and scikit-learn (KMeans.fit(X, sample_weight=w))."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.cluster import KMeans

from conftest import run_cli, table_checksums
from segdb.errors import DataError
from survey_fixture import load_survey, mapping, refresh_where, same_partition

ITEMS = ["q_price", "q_service", "q_online"]


def weighted_reference(frame):
    frame = frame.sort_values("respondent_id")
    X = frame[ITEMS].to_numpy(dtype=float)
    w = frame["weight"].to_numpy(dtype=float)
    keep = ~np.isin(X, (8, 9, 99)).any(axis=1)
    X, w, frame = X[keep], w[keep], frame[keep]
    mu = np.average(X, axis=0, weights=w)
    sd = np.sqrt(np.average((X - mu) ** 2, axis=0, weights=w))
    return frame, X, w, mu, sd


def define(db, **kwargs):
    features = [{"name": c, "kind": "likert", "scale_min": 1, "scale_max": 7, "codes": [8, 9, 99]}
                for c in ITEMS]
    db.create("w", source="survey", key="respondent_id", features=features, k=3, weight="weight",
              **kwargs)


def test_weighted_statistics_fit_and_sizes_match_numpy_and_sklearn(db):
    frame = load_survey(db.con)
    define(db)
    run = db.refresh("w")
    ref_frame, X, w, mu, sd = weighted_reference(frame)
    assert run.rows_used == len(w)
    stats = db.show("w").feature_stats
    assert [s["mean"] for s in stats] == pytest.approx(mu, rel=1e-7)
    assert [s["stddev"] for s in stats] == pytest.approx(sd, rel=1e-7)
    assert not np.allclose(mu, X.mean(axis=0), rtol=1e-3)  # the weights matter on this fixture
    model = KMeans(n_clusters=3, n_init=10, random_state=0).fit((X - mu) / sd, sample_weight=w)
    ours = np.array(db.sql("SELECT segment_id FROM w_segments ORDER BY respondent_id")
                    .column("segment_id").to_pylist())
    assert same_partition(ours, model.labels_)
    m = mapping(ours, model.labels_)
    raw = db.show("w").centroid_matrix("value_raw")
    for sid, vals in raw.items():
        members = model.labels_ == m[sid]
        # a weighted k-means centroid is the weighted mean of its members
        assert vals == pytest.approx(np.average(X[members], axis=0, weights=w[members]), rel=1e-7)
    segs = db.sql("SELECT segment_id, size, weighted_size, weighted_share FROM segdb.segments "
                  "WHERE run_id = ? ORDER BY segment_id", [run.run_id]).to_pandas()
    for row in segs.itertuples():
        members = ours == row.segment_id
        assert row.size == members.sum()
        assert row.weighted_size == pytest.approx(w[members].sum(), rel=1e-7)
        assert row.weighted_share == pytest.approx(w[members].sum() / w.sum(), rel=1e-7)


def test_weighted_category_shares(db):
    frame = load_survey(db.con)
    db.create("wc", source="survey", key="respondent_id", k=2, weight="weight",
              features=["q_price", {"name": "region", "kind": "category"}],
              )
    db.refresh("wc")
    labels = db.sql("SELECT respondent_id, segment_id FROM wc_segments").to_pandas()
    joined = labels.merge(frame, on="respondent_id")
    got = db.category_shares("wc").to_df()
    for row in got.itertuples():
        seg = joined[joined.segment_id == row.segment_id]
        in_level = seg.region == row.level
        assert row.weighted_size == pytest.approx(seg.weight[in_level].sum(), rel=1e-7)
        assert row.weighted_share == pytest.approx(seg.weight[in_level].sum() / seg.weight.sum(), rel=1e-7)
    # the indicator's centre is the weighted share of the level among the rows used
    stats = {s["feature"]: s for s in db.show("wc").feature_stats}
    north = (frame.region == "North").to_numpy(dtype=float)
    assert stats["region=North"]["mean"] == pytest.approx(np.average(north, weights=frame.weight), rel=1e-7)


def test_bad_weights_are_refused_before_anything_is_written(db, db_path):
    frame = load_survey(db.con)
    define(db)
    db.refresh("w")
    frame.loc[frame.index[:3], "weight"] = -1.0
    load_survey(db.con, frame)
    where = refresh_where(db.con, "w")
    db.close()
    before = table_checksums(db_path)
    result = run_cli(["refresh", "w"], db_path)
    assert result.exit_code == 1
    assert result.stderr == ("Error: weight column 'weight' is negative, NaN or infinite on 3 rows of "
                             f"{where}; weights must be finite numbers >= 0\n")
    assert table_checksums(db_path) == before


def test_null_weight_and_weight_definition_errors(db, db_path):
    frame = load_survey(db.con)
    frame["weight"] = frame["weight"].astype(object)
    complete = frame.index[~frame[ITEMS].isin([8, 9, 99]).any(axis=1)]
    frame.loc[complete[0], "weight"] = None   # a row used (a NULL weight on a skipped row is fine)
    load_survey(db.con, frame)
    define(db)
    where = re.escape(refresh_where(db.con, "w"))
    with pytest.raises(DataError, match=rf"^weight column 'weight' is NULL on 1 rows used of {where}; "):
        db.refresh("w")
    db.close()
    result = run_cli(["create", "bad", "--source", "survey", "--key", "respondent_id",
                      "--feature", "q_price", "--weight", "region"], db_path)
    assert result.exit_code == 1
    assert result.stderr == ("Error: weight column 'region' in table survey has type VARCHAR, not a "
                             "number; cast it in a source SELECT or choose another column\n")
    result = run_cli(["create", "bad", "--source", "survey", "--key", "respondent_id",
                      "--feature", "q_price", "--weight", "wieght"], db_path)
    assert result.stderr == "Error: weight column 'wieght' not found in table survey; did you mean 'weight'?\n"
