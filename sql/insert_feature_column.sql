-- insert_feature_column: one row per run and matrix column (see migrations/0004_feature_types.sql).
-- Parameters: run_id, feature_no, column_name, source_feature_no, source_feature, kind, level, expression.
INSERT INTO segdb.feature_columns
    (run_id, feature_no, column_name, source_feature_no, source_feature, kind, level, expression)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);
