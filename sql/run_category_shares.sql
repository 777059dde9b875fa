-- run_category_shares: one run's category shares per segment, feature and level.
-- Parameters: 1 run_id.
SELECT segment_id, feature, level, size, share, weighted_size, weighted_share
FROM segdb.category_shares WHERE run_id = ?
ORDER BY segment_id, feature, level NULLS LAST;
