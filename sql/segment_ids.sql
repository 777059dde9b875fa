-- segment_ids: every segment id a segmentation ever used (the ledger as its events left it:
-- segdb.current_segment_ids, migration 0006). An id of the current run is in use
-- (retired_run_id NULL) whatever the ledger row says, and an id that is not is retired (by the
-- run the ledger names, else by the current run): on Spark, which has no transactions, a refresh
-- or rollback killed before its commit record may have appended ledger events for a run that never
-- became current. Parameters: 1 segmentation.
SELECT i.segment_id, i.name, i.first_run_id,
       CASE WHEN s.segment_id IS NOT NULL THEN NULL
            ELSE coalesce(i.retired_run_id, c.run_id) END AS retired_run_id,
       i.named_at
FROM segdb.current_segment_ids AS i
LEFT JOIN segdb.current_runs AS c ON c.segmentation = i.segmentation
LEFT JOIN segdb.segments AS s ON s.run_id = c.run_id AND s.segment_id = i.segment_id
WHERE i.segmentation = ?
ORDER BY i.segment_id;
