-- insert_drift_feature: one feature's figures of a drift check.
-- Parameters: check_id, feature_no, feature, mean_run, mean_now, sd_run, sd_now, mean_shift, sd_change.
INSERT INTO segdb.drift_features (check_id, feature_no, feature, mean_run, mean_now, sd_run, sd_now,
                                  mean_shift, sd_change)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);
