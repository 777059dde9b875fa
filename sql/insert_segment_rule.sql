-- insert_segment_rule: one rule of a segment of a run (inside the write-back transaction).
-- Parameters: 1 run_id  2 segment_id  3 rule_no  4 condition_sql  5 terms  6 n_rows  7 n_segment
--   8 coverage  9 precision
INSERT INTO segdb.segment_rules (run_id, segment_id, rule_no, condition_sql, terms, n_rows, n_segment,
                                 coverage, precision)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);
