"""The refresh pipeline: check -> stats -> fetch -> fit -> identities -> quality -> write (pipeline.py)."""
