-- max_segment_id: the largest segment id a segmentation ever used, in the ledger or in any stored
-- run (0 if none); a fresh id is this plus one. Parameters: 1 segmentation, 2 segmentation.
SELECT greatest(
    coalesce((SELECT max(segment_id) FROM segdb.segment_ids WHERE segmentation = ?), 0),
    coalesce((SELECT max(s.segment_id) FROM segdb.segments AS s
              JOIN segdb.runs AS r ON r.run_id = s.run_id
              WHERE r.segmentation = ?), 0)) AS max_segment_id;
