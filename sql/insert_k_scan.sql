-- insert_k_scan: one k of a run's k scan (inside the write-back transaction).
-- Parameters (positional): 1 run_id  2 k  3 inertia  4 silhouette  5 calinski_harabasz
--   6 davies_bouldin  7 seconds  8 scan_rows  9 silhouette_sample_size
INSERT INTO segdb.k_scan (run_id, k, inertia, silhouette, calinski_harabasz, davies_bouldin,
                          seconds, scan_rows, silhouette_sample_size)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);
