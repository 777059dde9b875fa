-- 0008_segment_rules
-- A readable rule for each segment: a shallow decision tree (scikit-learn) fitted on the features in
-- source units predicts the segment; each of its leaves becomes one rule of the segment it predicts
-- (see segdb.quality.rules):
--   segment_rules  per run, segment and rule: the rule as a SQL condition over the source's columns
--                  (identifiers quoted, literals inline, pasteable), its terms as JSON (the same
--                  condition in a form segdb renders over other expressions, e.g. the parameters of
--                  <name>_rule_segment), and its coverage and precision on the tree's sample
--   run_rules      per run: the tree's depth, leaves, sample and fidelity (the share of the sample
--                  rows whose rule names their own segment)
-- Rows are only ever inserted (under a new run id) and deleted by prune.

CREATE TABLE segdb.segment_rules (
    run_id         BIGINT NOT NULL,
    segment_id     INTEGER NOT NULL,
    rule_no        INTEGER NOT NULL,  -- 1, 2, ... per segment, largest coverage first
    condition_sql  VARCHAR NOT NULL,  -- e.g. "Premium savings very important" >= 5 AND "Region" = 'North'
    terms          VARCHAR NOT NULL,  -- JSON list of per-feature bounds (segdb.define.rulesql)
    n_rows         BIGINT NOT NULL,   -- sample rows the rule catches
    n_segment      BIGINT NOT NULL,   -- of them, rows of the segment
    coverage       DOUBLE,            -- n_segment / the segment's sample rows
    precision      DOUBLE,            -- n_segment / n_rows
    PRIMARY KEY (run_id, segment_id, rule_no)
);

CREATE TABLE segdb.run_rules (
    run_id       BIGINT PRIMARY KEY,
    max_depth    INTEGER NOT NULL,  -- the definition's rules_depth
    leaves       INTEGER NOT NULL,  -- rules after merging sibling leaves of one segment
    sample_rows  BIGINT NOT NULL,   -- rows the tree was fitted and judged on (a seeded sample)
    fidelity     DOUBLE,            -- share of the sample rows whose rule gives their segment
    seconds      DOUBLE NOT NULL
);
