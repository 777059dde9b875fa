-- postgres_relation_lock_holder: after a lock timeout, the oldest other session holding a lock on
-- one of the relations the failed statement names (its lock has gone with the statement, so the
-- holders of those relations are what is left to name).
-- Parameters: 1 the relation names, as written in the statement (text[]).
SELECT l.relation::regclass::text AS relation, a.pid, a.usename, a.application_name,
       host(a.client_addr) AS client_addr, coalesce(a.xact_start, a.backend_start) AS since,
       a.state, a.query
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.relation IN (SELECT to_regclass(n) FROM unnest(%s::text[]) AS n)
ORDER BY since, a.pid
LIMIT 1
