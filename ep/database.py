"""Engine settings that make SQLite safe beside gunicorn workers and a batch process."""

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

SQLITE_BUSY_TIMEOUT_MS = 10_000


def engine_options(url: str) -> dict:
    """Return create_engine options for ``url``."""
    if make_url(url).get_backend_name() == "sqlite":
        # the pysqlite driver's own BEGIN handling breaks SAVEPOINT and FOR UPDATE-style
        # claims; we issue BEGIN ourselves in the connect hook below (SQLAlchemy docs,
        # "Serializable isolation / Savepoints / Transactional DDL")
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    return {"pool_pre_ping": True}


def configure_engine(engine: Engine) -> None:
    """Install per-connection settings: WAL, busy timeout and foreign keys on SQLite."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers (the health check) run beside a writing batch; NORMAL is
        # durable against a killed process, which is what a batch must survive
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # a batch asks for the write lock up front (execution option sqlite_immediate): in
        # WAL mode a transaction that reads and then writes fails at once, busy timeout or
        # not, when another connection wrote in between
        immediate = connection.get_execution_options().get("sqlite_immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
