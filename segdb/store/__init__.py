"""segdb's own tables: transactions, migrations, the SQL files, a run's bookkeeping."""
