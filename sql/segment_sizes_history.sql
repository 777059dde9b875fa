-- segment_sizes_history: each segment's size in every run of one segmentation that became current
-- (a commit record names it) and still has its rows (not pruned), oldest run first: the "sizes
-- across runs" picture. Parameters: 1 segmentation, 2 the same segmentation.
SELECT r.run_id, r.definition_version, r.k, s.segment_id, s.size, s.share
FROM segdb.runs AS r
JOIN segdb.segments AS s ON s.run_id = r.run_id
WHERE r.segmentation = ?
  AND r.status = 'succeeded'
  AND r.run_id NOT IN (SELECT p.run_id FROM segdb.run_prunes AS p)
  AND r.run_id IN (SELECT c.run_id FROM segdb.run_commits AS c WHERE c.segmentation = ?)
ORDER BY r.run_id, s.segment_id;
