-- run_segment_rules: a run's rules, by segment and rule number. Parameters: 1 run_id.
SELECT segment_id, rule_no, condition_sql, terms, n_rows, n_segment, coverage, precision
FROM segdb.segment_rules
WHERE run_id = ?
ORDER BY segment_id, rule_no;
