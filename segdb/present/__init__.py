"""Reading a run back for people: summaries, tables, plots, the HTML report, the generated SQL."""
