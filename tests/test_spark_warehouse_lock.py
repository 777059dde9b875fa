"""Spark on a local master (issue 15, item 5): the local metastore (Derby, in the warehouse folder)
admits one JVM, so segdb locks the warehouse before starting its session. A second real `segdb`
process on the same warehouse waits up to --lock-timeout, then stops in one line naming the first
(no JVM or Derby output), or goes on once the first has finished."""

from __future__ import annotations

import time

import pytest

from conftest import finish, pause_env, run_segdb_process, start_segdb_process, wait_for_file

URL = "spark://local[2]"


@pytest.fixture
def warehouse(tmp_path):
    pytest.importorskip("pyspark")
    from engines import require_spark
    require_spark()
    folder = tmp_path / "warehouse"
    env = {"SEGDB_SPARK_WAREHOUSE": str(folder)}
    for args in (["sql", "CREATE TABLE customers USING parquet AS SELECT id AS customer_id, "
                         "CAST(id % 7 AS DOUBLE) AS spend, CAST(id % 5 AS DOUBLE) AS visits FROM range(1, 200)"],
                 ["create", "live", "--source", "customers", "--key", "customer_id", "--feature", "spend",
                  "--feature", "visits", "--k", "2"]):
        result = run_segdb_process(args, URL, env, timeout=300)
        assert result.returncode == 0, result.stderr
    return folder, env




def test_second_process_fails_in_one_line_then_another_waits_and_runs(warehouse, tmp_path):
    folder, env = warehouse
    marker, release_file = tmp_path / "marker", tmp_path / "release"
    first = start_segdb_process(["refresh", "live"], URL, {
        **env, **pause_env("fit", marker, seconds=280), "SEGDB_TEST_PAUSE_RELEASE": str(release_file)})
    try:
        wait_for_file(marker, first, timeout=240)
        second = run_segdb_process(["--lock-timeout", "1", "refresh", "live"], URL, env, timeout=120)
        assert (second.returncode, second.stdout) == (1, "")
        assert second.stderr == (
            f"Error: the Spark warehouse {folder} (its local metastore admits one process) is in use by "
            f"another process (pid {first.pid}: paused_segdb.py --db {URL} refresh live); wait for it to "
            "finish or stop it, or raise --lock-timeout\n")
        third = start_segdb_process(["--lock-timeout", "280", "refresh", "live"], URL, env)
        time.sleep(3)
        assert third.poll() is None  # waiting for the warehouse, its JVM not started
    finally:
        release_file.write_text("go")
        code, out, err = finish(first)
    assert code == 0 and out.startswith("live: run 1 (its 1st run),"), err
    code3, out3, err3 = finish(third)
    assert code3 == 0 and out3.startswith("live: run 2 (its 2nd run),"), err3
    assert "Derby" not in err3 and "ERROR" not in err3
