-- postgres_table_columns: the columns of segdb.<table> in order, with their type as PostgreSQL
-- writes it and whether they are NOT NULL (a run's labels partition is made to match them,
-- segdb.store.run_partitions.fill).
-- Parameter: the table's name.
SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS kind, a.attnotnull AS not_null
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'segdb' AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
