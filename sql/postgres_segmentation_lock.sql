-- postgres_segmentation_lock: wait for the session-level advisory lock of one segmentation (inside
-- a transaction whose lock_timeout bounds the wait; the lock outlives the transaction).
-- Parameters: 1 segdb's lock class, 2 the segmentation's key (both int4).
SELECT pg_advisory_lock(%s::int4, %s::int4)
