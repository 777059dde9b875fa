-- insert_segment_quality: one segment's silhouette and stability (inside the write-back transaction).
-- Parameters (positional): 1 run_id  2 segment_id  3 silhouette  4 silhouette_rows  5 stability
INSERT INTO segdb.segment_quality (run_id, segment_id, silhouette, silhouette_rows, stability)
VALUES (?, ?, ?, ?, ?);
