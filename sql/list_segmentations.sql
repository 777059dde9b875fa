-- list_segmentations: every segmentation with its current definition and current run.
SELECT s.name,
       v.version                    AS definition_version,
       d.source,
       d.key_column,
       json_array_length(d.features) AS n_features,
       coalesce(CAST(d.k AS VARCHAR), 'auto') AS k,
       c.run_id                     AS current_run_id,
       r.finished_at                AS refreshed_at,
       r.rows_used
FROM segdb.segmentations AS s
JOIN segdb.current_definitions AS v ON v.segmentation = s.name
JOIN segdb.definitions AS d ON d.segmentation = s.name AND d.version = v.version
LEFT JOIN segdb.current_runs AS c ON c.segmentation = s.name
LEFT JOIN segdb.runs AS r ON r.run_id = c.run_id
ORDER BY s.name;
