-- run_k_scan: a run's k scan, by k. Parameters: 1 run_id.
SELECT k, inertia, silhouette, calinski_harabasz, davies_bouldin, seconds, scan_rows,
       silhouette_sample_size
FROM segdb.k_scan WHERE run_id = ? ORDER BY k;
