-- postgres_run_partitions: the partitions (one per run) of the labels table segdb.<table>.
-- Parameter: the labels table's name.
SELECT c.relname AS partition
FROM pg_catalog.pg_inherits AS i
JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_class AS p ON p.oid = i.inhparent
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.relnamespace
WHERE n.nspname = 'segdb' AND p.relname = %s
ORDER BY c.relname;
