"""Purchase-derived features: RFM from the CDNOW transactions, computed by the database from a
grouped source SELECT and feature expressions (examples/cdnow_rfm.toml), against pandas + numpy +
scikit-learn computing the same features and fit independently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from conftest import DATA
from survey_fixture import mapping, same_partition

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cdnow_rfm.toml"


def rfm_reference() -> pd.DataFrame:
    tx = pd.read_csv(DATA / "cdnow_sample_transactions.csv", parse_dates=["date"])
    end = tx["date"].max()
    per = tx.groupby("customer_id").agg(last=("date", "max"), purchases=("date", "size"),
                                        total=("dollar_value", "sum"), avg=("dollar_value", "mean"))
    return pd.DataFrame({
        "recency_days": (end - per["last"]).dt.days.astype(float),
        "log_purchases": np.log1p(per["purchases"]),
        "log_total_spend": np.log1p(per["total"]),
        "log_avg_spend": np.log1p(per["avg"]),
        "purchases": per["purchases"],
    }).sort_index()


@pytest.fixture(scope="module")
def rfm_db(tmp_path_factory):
    import segdb
    path = str(tmp_path_factory.mktemp("rfm") / "rfm.duckdb")
    with segdb.connect(path) as db:
        db.import_file(DATA / "cdnow_sample_transactions.csv", "cdnow")
        applied = db.apply(EXAMPLE)
        assert [(a.name, a.action, a.version) for a in applied] == [("cdnow_rfm", "created", 1)]
        db.refresh("cdnow_rfm")
    db = segdb.connect(path, read_only=True)
    yield db
    db.close()


def test_rfm_features_and_fit_match_pandas_and_sklearn(rfm_db):
    ref = rfm_reference()
    cols = ["recency_days", "log_purchases", "log_total_spend", "log_avg_spend"]
    X = ref[cols].to_numpy()
    summary = rfm_db.show("cdnow_rfm")
    assert summary.run["rows_used"] == len(ref) == 2357
    assert [s["feature"] for s in summary.feature_stats] == cols
    assert [s["mean"] for s in summary.feature_stats] == pytest.approx(X.mean(axis=0), rel=1e-7)
    assert [s["stddev"] for s in summary.feature_stats] == pytest.approx(X.std(axis=0), rel=1e-7)
    assert [s["max"] for s in summary.feature_stats] == pytest.approx(X.max(axis=0), rel=1e-7)
    scaler = StandardScaler().fit(X)
    model = KMeans(n_clusters=4, n_init=10, random_state=0).fit(scaler.transform(X))
    ours = rfm_db.sql("SELECT customer_id, segment_id FROM cdnow_rfm_segments ORDER BY customer_id")
    assert ours.column("customer_id").to_pylist() == ref.index.tolist()
    labels = np.array(ours.column("segment_id").to_pylist())
    assert same_partition(labels, model.labels_)
    centers = scaler.inverse_transform(model.cluster_centers_)
    m = mapping(labels, model.labels_)
    for sid, vals in summary.centroid_matrix("value_raw").items():
        assert vals == pytest.approx(centers[m[sid]], rel=1e-7)


def test_rfm_profiles_read_sensibly(rfm_db):
    ref = rfm_reference()
    view = rfm_db.sql("SELECT * FROM cdnow_rfm_centroids ORDER BY segment_id").to_pandas().set_index("segment_id")
    labels = rfm_db.sql("SELECT customer_id, segment_id FROM cdnow_rfm_segments").to_pandas()
    members = labels.merge(ref, left_on="customer_id", right_index=True)
    # recent frequent big spenders: the segment buying most often is also the most recent and
    # spends the most in total
    best = view["log_purchases"].idxmax()
    assert view["recency_days"].idxmin() == best
    assert view["log_total_spend"].idxmax() == best
    assert np.expm1(view.loc[best, "log_purchases"]) > 2 * ref["purchases"].mean()
    # one-time buyers: the segment buying least often is made mostly of customers with one
    # purchase, who last bought long ago
    worst = view["log_purchases"].idxmin()
    one_time = (members[members.segment_id == worst]["purchases"] == 1).mean()
    assert one_time > 0.8
    assert view.loc[worst, "recency_days"] > ref["recency_days"].mean()
    assert (ref["purchases"] == 1).mean() < one_time  # far more than in the whole customer base
