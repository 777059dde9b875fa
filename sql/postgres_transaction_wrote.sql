-- postgres_transaction_wrote: whether the current transaction has written anything (PostgreSQL
-- assigns a transaction id at the first write; reads never get one). A READ ONLY transaction still
-- lets a few functions write (lo_import() in PostgreSQL 15), so segdb.store.database.read_only_reads
-- asks this before it rolls its reads back.
SELECT txid_current_if_assigned() IS NOT NULL AS wrote
