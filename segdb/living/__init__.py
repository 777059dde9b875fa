"""Segments that live on between runs: stable ids, transitions, scoring in SQL, assign, drift, rollback and prune."""
