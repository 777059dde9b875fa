-- insert_segment: one row per run and segment.
-- Parameters: run_id, segment_id, size, share, sse, rms_radius, description.
INSERT INTO segdb.segments (run_id, segment_id, size, share, sse, rms_radius, description)
VALUES (?, ?, ?, ?, ?, ?, ?);
