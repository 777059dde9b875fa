-- update_segment_description: replace a segment's one-line description (written from its profile).
-- Parameters (positional): 1 description  2 run_id  3 segment_id
UPDATE segdb.segments SET description = ? WHERE run_id = ? AND segment_id = ?;
