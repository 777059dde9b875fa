"""The peer a Spark user would write instead of segdb: a pyspark.ml pipeline, run in its own process.

    python benchmarks/peer_spark_mllib.py --parquet DIR --key customer_id --feature x1 ... --k 6 \
        --seed 0 [--driver-memory 4g] [--master local[2]] --warehouse DIR

VectorAssembler -> StandardScaler(withMean, withStd) -> KMeans(k, seed) -> transform -> the labels
written as a table (``saveAsTable``), on a local session started here (the JVM's start is part of
what the benchmark times from outside: bench_engines.py runs this file with ``--peers spark-mllib``).
The driver memory is set as a Spark user sets it, ``spark.driver.memory`` on the builder (it takes
effect because this process starts the JVM); without ``--driver-memory`` Spark's default applies,
as it does for segdb's own session.

It prints one JSON object: the seconds of the pipeline (session start to labels written), the
driver's maximum heap, and the WSSSE on the data standardised as segdb standardises them (population
standard deviation). MLlib's StandardScaler divides by the sample standard deviation, so its own
cost is on slightly different data; the WSSSE here is recomputed from its centres on segdb's scale,
after the timed pipeline; ``untimed_seconds`` (that and a count of the labels table) is printed
apart, so that the caller, timing the process from outside, can leave it out.
"""

from __future__ import annotations

import argparse
import json
import time

STARTED = time.perf_counter()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parquet", required=True, help="the source table's parquet directory")
    p.add_argument("--key", required=True)
    p.add_argument("--feature", action="append", required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--driver-memory", default=None, help="spark.driver.memory [Spark's default]")
    p.add_argument("--warehouse", required=True, help="spark.sql.warehouse.dir (the labels table goes there)")
    p.add_argument("--shuffle-partitions", default="8", help="as segdb's session sets it")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from pyspark.ml import Pipeline
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import StandardScaler, VectorAssembler
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    builder = (SparkSession.builder.master(args.master).appName("mllib-peer")
               .config("spark.sql.warehouse.dir", args.warehouse)
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", args.shuffle_partitions))
    if args.driver_memory:
        builder = builder.config("spark.driver.memory", args.driver_memory)
    spark = builder.getOrCreate()
    try:
        spark.sparkContext.setLogLevel("ERROR")
        heap_mib = spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory() / 2 ** 20
        source = spark.read.parquet(args.parquet)
        pipeline = Pipeline(stages=[
            VectorAssembler(inputCols=args.feature, outputCol="raw"),
            StandardScaler(inputCol="raw", outputCol="features", withMean=True, withStd=True),
            KMeans(k=args.k, seed=args.seed, featuresCol="features", predictionCol="segment"),
        ])
        fit_started = time.perf_counter()
        model = pipeline.fit(source)
        fit_seconds = time.perf_counter() - fit_started
        labelled = model.transform(source).select(args.key, "segment")
        labelled.write.mode("overwrite").saveAsTable("mllib_labels")
        pipeline_seconds = time.perf_counter() - STARTED

        # not timed: the WSSSE on the population-standardised data, from MLlib's centres
        wsse_started = time.perf_counter()
        scaler, kmeans = model.stages[1], model.stages[2]
        sample_sd = scaler.std.toArray()
        agg = source.agg(F.count(F.lit(1)).alias("n"),
                         *[F.stddev_pop(f).alias(f"sd{i}") for i, f in enumerate(args.feature)]).first()
        pop_sd = [agg[f"sd{i}"] for i in range(len(args.feature))]
        means = scaler.mean.toArray()
        # a centre in MLlib's space c is raw mean + c * sample sd: on segdb's scale, c * sample sd / pop sd
        centers = [[c[i] * sample_sd[i] / pop_sd[i] for i in range(len(args.feature))]
                   for c in kmeans.clusterCenters()]
        scored = model.transform(source)
        terms = [F.pow((F.col(f) - float(means[i])) / float(pop_sd[i])
                       - F.array(*[F.lit(float(c[i])) for c in centers])[F.col("segment")], 2)
                 for i, f in enumerate(args.feature)]
        wsse = scored.select(F.sum(sum(terms[1:], terms[0])).alias("w")).first()["w"]
        wsse_seconds = time.perf_counter() - wsse_started
        rows = spark.table("mllib_labels").count()
        iterations = kmeans.summary.numIter if kmeans.hasSummary else None
        untimed_seconds = time.perf_counter() - STARTED - pipeline_seconds
    finally:
        spark.stop()
    print(json.dumps({"peer": "spark-mllib", "pipeline_seconds": pipeline_seconds, "fit_seconds": fit_seconds,
                      "wsse": wsse, "wsse_seconds": wsse_seconds, "untimed_seconds": untimed_seconds, "rows": rows, "n": agg["n"],
                      "driver_memory": args.driver_memory or "default", "heap_mib": heap_mib,
                      "iterations": iterations,
                      "centers_standardized": centers}), flush=True)


if __name__ == "__main__":
    main()
