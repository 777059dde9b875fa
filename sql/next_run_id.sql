-- next_run_id: a fresh run id (never reused, also across segmentations).
SELECT nextval('segdb.run_id_seq') AS run_id;
