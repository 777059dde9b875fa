-- segment_ids: every segment id a segmentation ever used. Parameters: 1 segmentation.
SELECT segment_id, name, first_run_id, retired_run_id, named_at
FROM segdb.segment_ids
WHERE segmentation = ?
ORDER BY segment_id;
