-- insert_run_quality: a run's quality figures and verdict (inside the write-back transaction).
-- Parameters (positional): 1 run_id  2 k  3 k_rule  4 k_reason  5 k_min  6 k_max  7 silhouette
--   8 silhouette_sample_size  9 calinski_harabasz  10 davies_bouldin  11 stability_ari
--   12 stability_ari_min  13 stability_bootstraps  14 stability_sample_size  15 verdict  16 seconds
INSERT INTO segdb.run_quality (run_id, k, k_rule, k_reason, k_min, k_max, silhouette,
                               silhouette_sample_size, calinski_harabasz, davies_bouldin,
                               stability_ari, stability_ari_min, stability_bootstraps,
                               stability_sample_size, verdict, seconds)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
