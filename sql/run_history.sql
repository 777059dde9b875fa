-- run_history: every run of one segmentation, newest first, with its ordinal (1 = the segmentation's
-- first run; every recorded run counts, pruned ones included, as in run_row).
-- Parameters: 1 segmentation name.
SELECT r.run_id,
       row_number() OVER (ORDER BY r.run_id) AS ordinal,
       r.run_id IS NOT DISTINCT FROM c.run_id AS is_current,
       r.status,
       r.definition_version,
       r.started_at,
       r.finished_at,
       r.k,
       r.rows_used,
       r.rows_skipped,
       r.inertia,
       r.triggered_by,
       r.error,
       r.pruned_at
FROM segdb.runs AS r
LEFT JOIN segdb.current_runs AS c ON c.segmentation = r.segmentation
WHERE r.segmentation = ?
ORDER BY r.run_id DESC;
