"""The core end to end on every engine (DuckDB, PostgreSQL, Spark) through one parametrized fixture.

On each engine: the schema comes from the migrations, the wholesale data (tests/data) is segmented by
the CLI, and the result is compared with scikit-learn on the same numbers (same partition, inertia
relative 1e-9) -- which is also DuckDB's result, since every engine fits the whole table when it is
under max_fit_rows. The labels, views and scoring function are then read back through the engine's
own SQL. Spark tests are slow (each statement is a Spark job), so each engine runs ONE long scenario.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

import segdb
from segdb.store.migrations import available_migrations
from conftest import WHOLESALE_COLUMNS, run_cli, wholesale_matrix
from engines import engine_of, load_table, wholesale_table

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def reference_fit(k: int):
    X = StandardScaler().fit_transform(wholesale_matrix()[:, :].astype(float))
    km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(X)
    return km.labels_, km.inertia_


def q(engine_url: str, name: str) -> str:
    return f"`{name}`" if engine_of(engine_url) == "spark" else f'"{name}"'


def test_core_end_to_end(engine_url):
    load_table(engine_url, "wholesale", wholesale_table())
    db = engine_url
    out = run_cli(["init"], db)
    assert out.exit_code == 0, out.output
    shipped = available_migrations()  # every migration this checkout ships, whatever their number
    assert f"segdb schema at version {shipped[-1].version}" in out.output
    listed = run_cli(["migrate", "--list"], db)
    assert [line.split()[2] for line in listed.output.splitlines()[2:]] == ["applied"] * len(shipped)

    features = sum((["--feature", c] for c in WHOLESALE_COLUMNS), [])
    out = run_cli(["create", "ws", "--source", "wholesale", "--key", "customer_id", *features, "--k", "3"], db)
    assert out.exit_code == 0, out.output
    out = run_cli(["-q", "refresh", "ws"], db)
    assert out.exit_code == 0, out.output
    assert "ws: run 1 (its 1st run), k=3, 440 rows used" in out.output

    with segdb.connect(db) as s:
        run = s.runs("ws")[0]
        labels = s.sql("SELECT customer_id, segment_id, distance FROM ws_segments ORDER BY customer_id")
        sizes = s.sql("SELECT segment_id, size FROM ws_centroids ORDER BY segment_id").to_pylist()
        assigned = s.sql(f"SELECT customer_id, ws_assign({', '.join(q(db, c) for c in WHOLESALE_COLUMNS)}) "
                         "AS a FROM wholesale ORDER BY customer_id")
        stored = s.sql("SELECT count(*) AS n FROM segdb.feature_stats WHERE run_id = 1").to_pylist()
    ref_labels, ref_inertia = reference_fit(3)
    got = np.array(labels.column("segment_id").to_pylist())
    assert labels.column("customer_id").to_pylist() == list(range(1, 441))
    assert adjusted_rand_score(ref_labels, got) == 1.0          # the same partition
    assert run["inertia"] == pytest.approx(ref_inertia, rel=1e-7)
    distances = np.array(labels.column("distance").to_pylist())
    assert float(np.sum(distances ** 2)) == pytest.approx(ref_inertia, rel=1e-7)
    assert [r["size"] for r in sizes] == sorted(np.bincount(got)[1:].tolist(), reverse=True)
    # the engine's scoring function labels every customer as the refresh did
    assert assigned.column("a").to_pylist() == got.tolist()
    assert stored == [{"n": 6}]

    # read commands, through the CLI
    shown = run_cli(["show", "ws"], db)
    assert shown.exit_code == 0 and "inertia" in shown.output, shown.output
    assert "ws" in run_cli(["list"], db).output
    runs = run_cli(["runs", "ws"], db)
    assert runs.exit_code == 0 and "succeeded" in runs.output
    counted = run_cli(["sql", "SELECT count(*) AS n FROM ws_segments", "--format", "csv"], db)
    assert counted.output.splitlines() == ["n", "440"]
    profile = run_cli(["profile", "ws"], db)
    assert profile.exit_code == 0 and "Grocery" in profile.output, profile.output

    # a second refresh on unchanged data: a new run, the same partition, every customer stays
    out = run_cli(["-q", "refresh", "ws"], db)
    assert out.exit_code == 0 and "run 2" in out.output, out.output
    moved = run_cli(["transitions", "ws"], db)
    assert moved.exit_code == 0, moved.output
    with segdb.connect(db) as s:
        again = s.sql("SELECT segment_id FROM ws_segments ORDER BY customer_id").column("segment_id").to_pylist()
        assert again == got.tolist()
        assert [r["run_id"] for r in s.runs("ws")] == [2, 1]

    # bad input: one line, exit 1, nothing written
    bad = run_cli(["create", "ws2", "--source", "wholesale", "--key", "customer_id", "--feature", "Fressh"], db)
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines()[-1].startswith("Error: feature column 'Fressh' not found")
    with segdb.connect(db) as s:
        assert s.names() == ["ws"]
