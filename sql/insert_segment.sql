-- insert_segment: one row per run and segment, written once and complete (no UPDATE afterwards).
-- Parameters: run_id, segment_id, size, share, sse, rms_radius, description, weighted_size,
-- weighted_share.
INSERT INTO segdb.segments (run_id, segment_id, size, share, sse, rms_radius, description,
                            weighted_size, weighted_share)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);
