-- run_transitions: customers per (segment in the previous run, segment in this run); NULL = new
-- (from) or gone (to). Parameters: 1 run_id.
SELECT previous_run_id, from_segment_id, to_segment_id, customers
FROM segdb.transitions
WHERE run_id = ?
ORDER BY from_segment_id NULLS FIRST, to_segment_id NULLS FIRST;
