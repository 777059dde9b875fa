"""The PostgreSQL peer of bench_engines.py: the pipeline a PostgreSQL user would write without segdb.

    python benchmarks/peer_pg_copy.py --url postgresql+psycopg://... --table customers \
        --key customer_id --feature likert_1 ... --k 6 --n-init 10 --seed 0

psycopg ``COPY (SELECT key, features FROM table) TO STDOUT`` (CSV, parsed by pyarrow) ->
scikit-learn ``StandardScaler`` (population standard deviation, as segdb's ``stddev_pop``) ->
``KMeans(n_clusters=k, n_init=n_init, random_state=seed)`` -> ``COPY <labels> FROM STDIN`` of every
row's label into a new table, committed. It runs in its own process (bench_engines.py starts it
beside segdb, on the same database) and prints one JSON object: its wall seconds from the start of
this process (imports included, as segdb's refresh is timed from its process start), the seconds
of each step, and its WSSSE (KMeans' inertia_: the squared distances on the standardised data,
the same quantity as segdb's runs.inertia). It drops its labels table first, so it can run again.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402

LABELS_TABLE = "peer_pg_copy_labels"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="a SQLAlchemy-style postgresql:// URL of the database")
    p.add_argument("--table", default="customers")
    p.add_argument("--key", default="customer_id")
    p.add_argument("--feature", action="append", required=True)
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--n-init", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def connect(url: str):
    import psycopg
    from sqlalchemy.engine import make_url
    u = make_url(url)
    kwargs = {"host": u.host, "port": u.port, "user": u.username, "password": u.password, "dbname": u.database}
    return psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None})


def main(argv=None) -> None:
    args = parse_args(argv)
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from psycopg import sql
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    steps = {}
    mark = time.perf_counter()
    with connect(args.url) as con:
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in [args.key, *args.feature])
        query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT csv)").format(
            columns, sql.Identifier(args.table))
        buf = io.BytesIO()
        with con.cursor().copy(query) as copy:
            for block in copy:
                buf.write(block)
        buf.seek(0)
        names = [args.key, *args.feature]
        table = pacsv.read_csv(buf, read_options=pacsv.ReadOptions(column_names=names),
                               convert_options=pacsv.ConvertOptions(
                                   column_types={n: pa.float64() for n in args.feature}))
        keys = table.column(args.key)
        X = np.column_stack([table.column(n).to_numpy() for n in args.feature])
        del table, buf
        steps["copy_out"] = time.perf_counter() - mark

        mark = time.perf_counter()
        Z = StandardScaler().fit_transform(X)  # population sd (ddof=0)
        km = KMeans(n_clusters=args.k, n_init=args.n_init, random_state=args.seed).fit(Z)
        steps["fit"] = time.perf_counter() - mark

        mark = time.perf_counter()
        out = io.BytesIO()
        pacsv.write_csv(pa.table({"key": keys, "segment": pa.array(km.labels_.astype(np.int32) + 1)}), out,
                        write_options=pacsv.WriteOptions(include_header=False))
        labels = sql.Identifier(LABELS_TABLE)
        con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(labels))
        con.execute(sql.SQL("CREATE TABLE {} ({} bigint, segment integer)").format(
            labels, sql.Identifier(args.key)))
        with con.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(labels)) as copy:
            copy.write(out.getbuffer())
        con.commit()
        steps["copy_in"] = time.perf_counter() - mark
        rows = int(con.execute(sql.SQL("SELECT count(*) FROM {}").format(labels)).fetchone()[0])
    print(json.dumps({"peer": "pg-copy", "seconds": time.perf_counter() - STARTED, "rows": rows,
                      "inertia": float(km.inertia_), "n_iter": int(km.n_iter_),
                      "steps": {k: round(v, 3) for k, v in steps.items()}}), flush=True)


if __name__ == "__main__":
    main()
