-- 0006_appended_events
-- Names, the segment-id ledger's retirements, definition versions and prune marks become appended
-- facts, so that no segdb command updates or deletes a row of segdb's own tables (on Spark, which
-- has no transactions, an UPDATE was a copy-and-swap: two table renames):
--   segment_id_events    one row per change of a segment id: 'named' (name, NULL = unnamed),
--                        'retired' (run_id: the run that became current without it) and
--                        'reinstated' (run_id: the run made current again with it). The newest event
--                        of each kind group (highest seq; the writer hands out seq under the
--                        segmentation's lock, one per batch, a batch never names an id twice) wins.
--   current_segment_ids  a view: the ledger as it stands; an id without events keeps the values of
--                        its segment_ids row, which are no longer updated (its initial state)
--   definition_commits   one row per definition version that became current; the highest version
--                        is current (versions only grow). segmentations.current_version is the
--                        version a segmentation was created with and is no longer read.
--   current_definitions  a view: each segmentation's current definition version
--   run_prunes           one row per run `segdb prune` marked; runs.pruned_at is no longer written
--                        (copied below) nor read
-- Every statement is re-runnable after a half-applied migration on Spark (segdb.store.migrations).

CREATE TABLE segdb.segment_id_events (
    segmentation  VARCHAR NOT NULL,
    segment_id    INTEGER NOT NULL,
    seq           BIGINT NOT NULL,     -- 1, 2, ... per segmentation; the newest event wins
    kind          VARCHAR NOT NULL,    -- named | retired | reinstated
    run_id        BIGINT,              -- retired / reinstated: the run that became current
    name          VARCHAR,             -- named: the name, NULL when it was removed
    changed_at    TIMESTAMP NOT NULL
);

CREATE VIEW segdb.current_segment_ids AS
SELECT i.segmentation, i.segment_id, i.first_run_id,
       CASE WHEN n.segment_id IS NULL THEN i.name ELSE n.name END AS name,
       CASE WHEN r.segment_id IS NULL THEN i.retired_run_id
            WHEN r.kind = 'retired' THEN r.run_id END AS retired_run_id,
       CASE WHEN n.segment_id IS NULL THEN i.named_at ELSE n.changed_at END AS named_at
FROM segdb.segment_ids AS i
LEFT JOIN (SELECT e.segmentation, e.segment_id, e.name, e.changed_at
           FROM segdb.segment_id_events AS e
           JOIN (SELECT segmentation, segment_id, max(seq) AS seq FROM segdb.segment_id_events
                 WHERE kind = 'named' GROUP BY segmentation, segment_id) AS m
             ON m.segmentation = e.segmentation AND m.segment_id = e.segment_id AND m.seq = e.seq
           WHERE e.kind = 'named') AS n
  ON n.segmentation = i.segmentation AND n.segment_id = i.segment_id
LEFT JOIN (SELECT e.segmentation, e.segment_id, e.kind, e.run_id
           FROM segdb.segment_id_events AS e
           JOIN (SELECT segmentation, segment_id, max(seq) AS seq FROM segdb.segment_id_events
                 WHERE kind IN ('retired', 'reinstated') GROUP BY segmentation, segment_id) AS m
             ON m.segmentation = e.segmentation AND m.segment_id = e.segment_id AND m.seq = e.seq
           WHERE e.kind IN ('retired', 'reinstated')) AS r
  ON r.segmentation = i.segmentation AND r.segment_id = i.segment_id;

CREATE TABLE segdb.definition_commits (
    segmentation  VARCHAR NOT NULL,
    version       INTEGER NOT NULL,    -- the highest is current
    committed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (segmentation, version)
);

-- Backfill: each segmentation's current version as it stood.
INSERT INTO segdb.definition_commits (segmentation, version, committed_at)
SELECT s.name, s.current_version, s.created_at
FROM segdb.segmentations AS s
WHERE s.name NOT IN (SELECT c.segmentation FROM segdb.definition_commits AS c);

CREATE VIEW segdb.current_definitions AS
SELECT c.segmentation, max(c.version) AS version
FROM segdb.definition_commits AS c
GROUP BY c.segmentation;

CREATE TABLE segdb.run_prunes (
    segmentation  VARCHAR NOT NULL,
    run_id        BIGINT NOT NULL,
    pruned_at     TIMESTAMP NOT NULL   -- a run marked twice (a killed prune re-run): the first counts
);

-- Backfill: the runs earlier prunes marked.
INSERT INTO segdb.run_prunes (segmentation, run_id, pruned_at)
SELECT r.segmentation, r.run_id, r.pruned_at
FROM segdb.runs AS r
WHERE r.pruned_at IS NOT NULL
  AND r.run_id NOT IN (SELECT p.run_id FROM segdb.run_prunes AS p);
