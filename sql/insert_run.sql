-- insert_run: record a finished refresh in segdb.runs (inside the write-back transaction).
-- Parameters (positional):
--   1 run_id  2 segmentation  3 definition_version  4 status  5 triggered_by  6 started_at
--   7 finished_at  8 rows_total  9 rows_used  10 rows_skipped  11 fit_rows  12 k  13 inertia
--   14 seed  15 n_init  16 n_iter  17 package_versions (JSON)  18 input_fingerprint
--   19 stage_seconds (JSON)  20 error  21 fit_start ('cold' | 'warm')  22 fit_start_note
INSERT INTO segdb.runs (
    run_id, segmentation, definition_version, status, triggered_by, started_at, finished_at,
    rows_total, rows_used, rows_skipped, fit_rows, k, inertia, seed, n_init, n_iter,
    package_versions, input_fingerprint, stage_seconds, error, fit_start, fit_start_note
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
