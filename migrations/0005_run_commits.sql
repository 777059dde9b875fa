-- 0005_run_commits
-- The current run of a segmentation becomes an append-only fact, so that engines without
-- transactions (Spark) can switch runs by appending one row:
--   run_commits     one row per switch of the current run: a refresh that succeeded, a rollback
--                   (and the backfill below). A segmentation's current run is its row with the
--                   highest seq; rows are never updated or deleted.
--   current_runs    a view: each segmentation's current run, read by every reader of the current
--                   run (commands, the <name>_segments / <name>_centroids views on PostgreSQL and
--                   Spark, Spark's scoring functions).
-- segmentations.current_run_id is retired: copied into run_commits below, then set to NULL, and
-- neither written nor read by segdb any more (a NULL rather than a value that could silently
-- disagree with the commit records; Spark's file tables cannot drop a column).
-- Every statement is written so that re-running it after a half-applied migration on Spark
-- (which has no transactions) finishes the job (see segdb.store.migrations).

CREATE TABLE segdb.run_commits (
    segmentation  VARCHAR NOT NULL,
    seq           BIGINT NOT NULL,     -- 1, 2, ... per segmentation; the highest is current
    run_id        BIGINT NOT NULL,
    action        VARCHAR NOT NULL,    -- refresh | rollback | backfill
    committed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (segmentation, seq)
);

-- Backfill: every succeeded run written before this migration was current once, so each gets a
-- record (rollback goes only to runs that were current once); the current run's comes last.
INSERT INTO segdb.run_commits (segmentation, seq, run_id, action, committed_at)
SELECT r.segmentation,
       row_number() OVER (PARTITION BY r.segmentation
                          ORDER BY CASE WHEN r.run_id = s.current_run_id THEN 1 ELSE 0 END, r.run_id),
       r.run_id, 'backfill', CAST(coalesce(r.finished_at, current_timestamp) AS TIMESTAMP)
FROM segdb.runs AS r
JOIN segdb.segmentations AS s ON s.name = r.segmentation
WHERE s.current_run_id IS NOT NULL
  AND (r.status = 'succeeded' OR r.run_id = s.current_run_id)
  AND r.segmentation NOT IN (SELECT c.segmentation FROM segdb.run_commits AS c);

UPDATE segdb.segmentations SET current_run_id = NULL WHERE current_run_id IS NOT NULL;

CREATE VIEW segdb.current_runs AS
SELECT c.segmentation, c.run_id, c.seq, c.committed_at
FROM segdb.run_commits AS c
WHERE c.seq = (SELECT max(c2.seq) FROM segdb.run_commits AS c2 WHERE c2.segmentation = c.segmentation);
