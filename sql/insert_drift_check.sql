-- insert_drift_check: one `segdb drift` check (see migrations/0003 for the columns).
-- Parameters: check_id, segmentation, run_id, checked_at, triggered_by, customers_run,
--   customers_now, customers_new, customers_gone, customers_changed, new_share, gone_share,
--   changed_share, inertia_per_customer_fit, inertia_per_customer_now, inertia_ratio,
--   max_mean_shift, max_sd_change, thresholds (JSON), refresh_advised, reasons.
INSERT INTO segdb.drift_checks (
    check_id, segmentation, run_id, checked_at, triggered_by, customers_run, customers_now,
    customers_new, customers_gone, customers_changed, new_share, gone_share, changed_share,
    inertia_per_customer_fit, inertia_per_customer_now, inertia_ratio, max_mean_shift,
    max_sd_change, thresholds, refresh_advised, reasons
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
