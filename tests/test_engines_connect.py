"""Spark Connect (`sc://HOST:PORT`): a real Spark Connect server (pyspark's own
sbin/start-connect-server.sh, local[2], its own warehouse) started for this module, and the core
scenario against it: the same partition and inertia as scikit-learn, the views and the scoring
function read back, and a prune that rewrites the labels table inside Spark."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import segdb
from conftest import WHOLESALE_COLUMNS
from engines import engine_unavailable, require_spark, wholesale_table
from test_engines_core import reference_fit

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
    require_spark()
    try:
        import grpc  # noqa: F401  (pyspark[connect])
    except ImportError:
        engine_unavailable("Spark Connect's client needs pyspark[connect] (grpcio)")
    import pyspark

    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("spark-connect")
    port = _free_port()
    env = dict(os.environ, SPARK_HOME=str(home), SPARK_LOG_DIR=str(work / "logs"), SPARK_PID_DIR=str(work))
    warehouse = work / "warehouse"
    start = [str(home / "sbin" / "start-connect-server.sh"), "--master", "local[2]",
             "--conf", f"spark.connect.grpc.binding.port={port}",
             "--conf", f"spark.sql.warehouse.dir={warehouse}",
             "--conf", "spark.sql.catalogImplementation=hive",
             "--conf", "spark.sql.legacy.createHiveTableByDefault=false",
             "--conf", "spark.sql.shuffle.partitions=4",
             "--conf", "spark.ui.enabled=false",
             "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={warehouse}"]
    done = subprocess.run(start, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        engine_unavailable(f"the Spark Connect server did not start: {done.stderr.strip()[:300]}")
    try:
        deadline = time.monotonic() + 90
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                logs = "".join(p.read_text()[-500:] for p in (work / "logs").glob("*.out"))
                engine_unavailable(f"the Spark Connect server is not listening on {port}: {logs}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        from pyspark.sql.connect.session import SparkSession as ConnectSession
        active = ConnectSession.getActiveSession()
        if active is not None:  # a client left open would retry the stopped server at exit
            active.stop()
        subprocess.run([str(home / "sbin" / "stop-connect-server.sh")], env=env, capture_output=True)


def test_spark_connect_end_to_end(connect_url):
    with segdb.connect(connect_url) as db:
        db.con.session.createDataFrame(wholesale_table().to_pandas()).write.saveAsTable("wholesale")
        db.create("ws", source="wholesale", key="customer_id", features=WHOLESALE_COLUMNS, k=3)
        run = db.refresh("ws")
        labels = db.sql("SELECT customer_id, segment_id FROM ws_segments ORDER BY customer_id")
        columns = ", ".join(f"`{c}`" for c in WHOLESALE_COLUMNS)
        assigned = db.sql(f"SELECT ws_assign({columns}) AS a FROM wholesale ORDER BY customer_id")
        ref_labels, ref_inertia = reference_fit(3)
        got = labels.column("segment_id").to_pylist()
        assert labels.column("customer_id").to_pylist() == list(range(1, 441))
        assert adjusted_rand_score(ref_labels, np.array(got)) == 1.0
        assert run.inertia == pytest.approx(ref_inertia, rel=1e-7)
        assert assigned.column("a").to_pylist() == got
        second = db.refresh("ws")
        pruned = db.prune("ws", keep=1)
        assert pruned.pruned_run_ids == (run.run_id,) and pruned.labels_deleted == 440
        remaining = db.sql("SELECT run_id, count(*) AS n FROM segdb.ws_labels GROUP BY run_id").to_pylist()
        assert remaining == [{"run_id": second.run_id, "n": 440}]
    # segdb created the Connect session for the URL, so closing the database closed it
    from pyspark.sql.connect.session import SparkSession as ConnectSession
    assert ConnectSession.getActiveSession() is None
