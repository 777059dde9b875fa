-- run_segment_quality: per segment of a run: size, share, RMS radius, silhouette, stability.
-- Parameters: 1 run_id.
SELECT s.segment_id, s.size, s.share, s.rms_radius, q.silhouette, q.silhouette_rows, q.stability,
       s.description
FROM segdb.segments AS s
LEFT JOIN segdb.segment_quality AS q ON q.run_id = s.run_id AND q.segment_id = s.segment_id
WHERE s.run_id = ?
ORDER BY s.segment_id;
