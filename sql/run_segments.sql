-- run_segments: one run's segments. Parameters: 1 run_id.
SELECT segment_id, size, share, sse, rms_radius, description
FROM segdb.segments WHERE run_id = ? ORDER BY segment_id;
