-- run_segments: one run's segments, with the names of their ids (segdb name). Parameters: 1 run_id.
SELECT s.segment_id, s.size, s.share, s.sse, s.rms_radius, s.description, n.name
FROM segdb.segments AS s
LEFT JOIN segdb.runs AS r ON r.run_id = s.run_id
LEFT JOIN segdb.current_segment_ids AS n ON n.segmentation = r.segmentation AND n.segment_id = s.segment_id
WHERE s.run_id = ? ORDER BY s.segment_id;
