-- insert_run_commit: make a run current by appending ONE commit record (the highest seq wins).
-- One INSERT of one row, so on Spark too it appears whole or not at all.
-- Parameters: 1 segmentation, 2 run_id, 3 action (refresh | rollback), 4 committed_at, 5 segmentation.
INSERT INTO segdb.run_commits (segmentation, seq, run_id, action, committed_at)
SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?
FROM segdb.run_commits
WHERE segmentation = ?;
