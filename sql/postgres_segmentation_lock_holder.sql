-- postgres_segmentation_lock_holder: the session holding the advisory lock of one segmentation
-- (pg_locks shows an int4 pair lock as classid, objid with objsubid 2, both as unsigned oids).
-- Parameters: 1 segdb's lock class, 2 the segmentation's key (both as unsigned oids).
SELECT a.pid, a.usename, a.application_name, host(a.client_addr) AS client_addr,
       a.backend_start AS since, a.state, a.query
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid AND l.pid <> pg_backend_pid()
LIMIT 1
