-- insert_segment_match: how a segment of a new run continues a segment of the previous run.
-- Parameters: 1 run_id, 2 previous_run_id, 3 segment_id, 4 matched_from_segment_id, 5 match_cost.
INSERT INTO segdb.segment_matches (run_id, previous_run_id, segment_id, matched_from_segment_id, match_cost)
VALUES (?, ?, ?, ?, ?);
