-- backfill_segment_ids: add to the ledger the ids of stored runs it does not know (runs written
-- before migration 0003); ids not in the current run are marked retired by it. The current run
-- may be the one being written, whose segdb.runs row comes last in its transaction.
-- Parameters: 1 segmentation, 2 current run_id, 3 current run_id, 4 segmentation,
--             5 current run_id, 6 segmentation.
INSERT INTO segdb.segment_ids (segmentation, segment_id, first_run_id, retired_run_id)
SELECT ?, s.segment_id, min(s.run_id),
       CASE WHEN bool_or(s.run_id = ?) THEN NULL ELSE ? END
FROM segdb.segments AS s
WHERE (s.run_id IN (SELECT run_id FROM segdb.runs WHERE segmentation = ?) OR s.run_id = ?)
  AND s.segment_id NOT IN (SELECT segment_id FROM segdb.segment_ids WHERE segmentation = ?)
GROUP BY s.segment_id;
