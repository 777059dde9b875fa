-- postgres_table_partitioned: is segdb.<table> partitioned (a labels table with one partition
-- per run, segdb.store.run_partitions)? No row when there is no such table.
-- Parameter: the table's name.
SELECT c.relkind = 'p' AS partitioned
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'segdb' AND c.relname = %s;
