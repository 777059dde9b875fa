-- postgres_segmentation_lock_try: take the session-level advisory lock of one segmentation if no
-- other session holds it (segdb.store.locks); PostgreSQL's own dialect, run untranslated.
-- Parameters: 1 segdb's lock class, 2 the segmentation's key (both int4).
SELECT pg_try_advisory_lock(%s::int4, %s::int4) AS locked
