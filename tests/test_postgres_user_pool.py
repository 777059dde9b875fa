"""A notebook's own sqlalchemy.Engine lends segdb a pooled connection; segdb gives it back as it
found it: not read-only (a read-only segdb.connect sets default_transaction_read_only on it) and
not in autocommit (segdb's statements run in autocommit with explicit BEGIN/COMMIT)."""

import sqlalchemy

import segdb


def test_a_read_only_segdb_leaves_the_users_pool_writable(postgres_url):
    engine = sqlalchemy.create_engine(postgres_url, pool_size=1, max_overflow=0)  # one connection, reused
    try:
        with segdb.connect(engine) as db:
            db.init()
        with segdb.connect(engine, read_only=True) as db:
            assert db.list() == []
        with engine.connect() as con:
            assert con.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "off"
            assert con.connection.driver_connection.autocommit is False
            con.exec_driver_sql("CREATE TABLE written_after_segdb (x integer)")
            con.exec_driver_sql("INSERT INTO written_after_segdb VALUES (1)")
            con.rollback()  # the user's own transaction: rolled back as a whole
        with engine.connect() as con:
            assert con.exec_driver_sql(
                "SELECT to_regclass('written_after_segdb') IS NULL").scalar() is True
    finally:
        engine.dispose()


def test_segdb_gives_the_users_connection_back_with_its_own_lock_timeout(postgres_url):
    """segdb bounds every lock wait of its session by --lock-timeout (autocommit statements too,
    segdb.engines.postgres); a connection of the user's pool gets the user's setting back."""
    engine = sqlalchemy.create_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as con:
            con.exec_driver_sql("SET lock_timeout = '42s'")  # the user's own session setting
            con.commit()
        with segdb.connect(engine, lock_timeout=7) as db:
            db.init()
            assert db.sql("SELECT current_setting('lock_timeout') AS t").to_pylist() == [{"t": "7s"}]
        with engine.connect() as con:
            assert con.exec_driver_sql("SHOW lock_timeout").scalar() == "42s"
    finally:
        engine.dispose()
