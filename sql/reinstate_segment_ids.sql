-- reinstate_segment_ids: after a rollback, the ids of the run made current are in use again, and
-- every other id still in use is retired by that run.
-- Parameters: 1 run_id made current, 2 the same run_id, 3 segmentation.
UPDATE segdb.segment_ids
SET retired_run_id = CASE
        WHEN segment_id IN (SELECT segment_id FROM segdb.segments WHERE run_id = ?) THEN NULL
        ELSE coalesce(retired_run_id, ?) END
WHERE segmentation = ?;
