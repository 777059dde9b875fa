-- update_weighted_size: a segment's weighted size and share (runs of segmentations with a weight column).
-- Parameters: weighted_size, weighted_share, run_id, segment_id.
UPDATE segdb.segments SET weighted_size = ?, weighted_share = ?
WHERE run_id = ? AND segment_id = ?;
