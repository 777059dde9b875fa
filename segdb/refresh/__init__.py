"""The refresh pipeline (pipeline.py): check -> stats (check.py) -> fetch (fetch.py) -> scan -> fit
-> score -> identities -> quality (fit.py) -> write (writeback.py), timed and reported by stages.py."""
