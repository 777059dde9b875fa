-- 0009_warm_start
-- How each run's k-means started (segdb.refresh.warmstart):
--   runs.fit_start       'cold': k-means++ restarts, as every run before this migration (NULL there);
--                        'warm': one Lloyd run from the previous current run's centroids, mapped
--                        into this run's scaling (`segdb refresh --warm-start`, or a definition's
--                        warm_start option)
--   runs.fit_start_note  the run a warm start started from ('from run 12'), or why a warm start
--                        that was asked for fell back to cold (k, the features or the scaling changed)

ALTER TABLE segdb.runs ADD COLUMN fit_start VARCHAR;
ALTER TABLE segdb.runs ADD COLUMN fit_start_note VARCHAR;
