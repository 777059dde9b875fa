-- postgres_segmentation_unlock: let go of the advisory lock of one segmentation.
-- Parameters: 1 segdb's lock class, 2 the segmentation's key (both int4).
SELECT pg_advisory_unlock(%s::int4, %s::int4)
