-- insert_rollback: record a rollback. Parameters: segmentation, rolled_back_at, from_run_id,
-- to_run_id, triggered_by.
INSERT INTO segdb.rollbacks (segmentation, rolled_back_at, from_run_id, to_run_id, triggered_by)
VALUES (?, ?, ?, ?, ?);
