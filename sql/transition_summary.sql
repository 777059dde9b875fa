-- transition_summary: one run's transitions added up: previous run, number of rows, customers that
-- kept their segment, moved, are new, are gone. Parameters: 1 run_id.
SELECT any_value(previous_run_id) AS previous_run_id,
       count(*) AS n_rows,
       coalesce(sum(customers) FILTER (WHERE from_segment_id = to_segment_id), 0) AS kept,
       coalesce(sum(customers) FILTER (WHERE from_segment_id <> to_segment_id), 0) AS moved,
       coalesce(sum(customers) FILTER (WHERE from_segment_id IS NULL), 0) AS new,
       coalesce(sum(customers) FILTER (WHERE to_segment_id IS NULL), 0) AS gone
FROM segdb.transitions
WHERE run_id = ?;
