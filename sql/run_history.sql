-- run_history: every run of one segmentation, newest first, with its ordinal (1 = the segmentation's
-- first run; every recorded run counts, pruned ones included, as in run_row).
-- status: a succeeded run that no commit record names never became current (on Spark, a refresh
-- killed between its run row and its commit record): shown as abandoned. pruned_at: when `segdb prune`
-- marked it (segdb.run_prunes, migration 0006).
-- Parameters: 1 segmentation name, 2 the same name.
SELECT r.run_id,
       row_number() OVER (ORDER BY r.run_id) AS ordinal,
       r.run_id IS NOT DISTINCT FROM c.run_id AS is_current,
       CASE WHEN r.status = 'succeeded' AND k.run_id IS NULL THEN 'abandoned' ELSE r.status END AS status,
       r.definition_version,
       r.started_at,
       r.finished_at,
       r.k,
       r.rows_used,
       r.rows_skipped,
       r.inertia,
       r.triggered_by,
       r.error,
       p.pruned_at,
       r.fit_start,
       r.fit_start_note
FROM segdb.runs AS r
LEFT JOIN segdb.current_runs AS c ON c.segmentation = r.segmentation
LEFT JOIN (SELECT DISTINCT run_id FROM segdb.run_commits WHERE segmentation = ?) AS k ON k.run_id = r.run_id
LEFT JOIN (SELECT run_id, min(pruned_at) AS pruned_at FROM segdb.run_prunes GROUP BY run_id) AS p
  ON p.run_id = r.run_id
WHERE r.segmentation = ?
ORDER BY r.run_id DESC;
