"""Engine settings that make SQLite safe beside gunicorn workers and a batch process,
the one query hint SQLite needs, and a read that survives a connection the database dropped."""

import threading
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, Result, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5


class Reads:
    """Reads on a connection of ``engine``, made at the first read; Core statements only.

    The operator pages read through this instead of an ORM session: a session's work
    around each statement was a third of HealthCheckStatus's reads. Like a session it
    connects only when first asked, so a database that cannot be reached fails that read
    (which the role check and the database check judge), not the making of this object.
    Offers the part of Session that the operator pages use.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self.engine.connect()
        return self._connection

    def get_bind(self) -> Engine:
        return self.engine

    def execute(self, statement, params=None) -> Result:
        return self.connection().execute(statement, params)

    def scalar(self, statement, params=None):
        return self.connection().scalar(statement, params)

    def rollback(self) -> None:
        if self._connection is not None:
            self._connection.rollback()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# what a read runs on: an ORM session (the pages, the `ep` command) or Reads (the operator
# pages)
Reader = Session | Reads


def engine_options(url: str) -> dict:
    """Return create_engine options for ``url``."""
    if make_url(url).get_backend_name() == "sqlite":
        # the pysqlite driver's own BEGIN handling breaks SAVEPOINT and FOR UPDATE-style
        # claims; we issue BEGIN ourselves in the connect hook below (SQLAlchemy docs,
        # "Serializable isolation / Savepoints / Transactional DDL")
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    # a database that does not answer must fail a request or a health check in seconds,
    # not hang it until gunicorn's worker timeout
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": PG_CONNECT_TIMEOUT_S}}


def operator_engine(engine: Engine, *, statement_timeout_seconds: int) -> Engine:
    """Return the engine for the operator pages: one of their own, on ``engine``'s database.

    Monitoring calls HealthCheckStatus every few seconds, so each statement it need not
    make is left out: autocommit, so no BEGIN and ROLLBACK (the pages only read, and each
    read stands on its own). On PostgreSQL also no pool_pre_ping (its reads go through
    ``execute_retrying_once`` instead); the statement timeout that the health check's SET
    LOCAL gives a transaction is set for the connection instead: every statement of the
    operator pages stays bounded. On SQLite the connections get the same settings as
    ``engine``'s (configure_engine) but no BEGIN.
    """
    url = engine.url.render_as_string(hide_password=False)
    options = engine_options(url)  # backend only
    if engine.dialect.name != "postgresql":
        reader = create_engine(url, **options, isolation_level="AUTOCOMMIT")
        configure_engine(reader, transactions=False)
        return reader
    return create_engine(
        engine.url,
        **{
            **options,
            "pool_pre_ping": False,
            "isolation_level": "AUTOCOMMIT",
            "connect_args": {
                **options["connect_args"],
                "options": f"-c statement_timeout={statement_timeout_seconds * 1000}",
            },
        },
    )


def execute_retrying_once(session: Reader, statement, params: dict | None = None) -> Result:
    """``session.execute``, once more on a fresh connection when the pooled one was dead.

    Without pool_pre_ping, a connection that the database dropped while it sat in the pool
    (a restart, a failover, an idle timeout) fails the next statement with a disconnect
    error. SQLAlchemy then invalidates it and every connection pooled before it, so the
    second try connects anew; a database that is really gone fails that one too. Only for
    reads whose transaction holds nothing worth keeping: the retry rolls it back.
    """
    try:
        return session.execute(statement, params)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        session.rollback()
        return session.execute(statement, params)


# -- SQLite's one writer, waited for in turn --

# the threads of this process that write to SQLite, one at a time (begin_writing)
_write_turn = threading.RLock()
_HOLDS_TURN = "ep_write_turn"


def begin_writing(session: Session) -> None:
    """Begin ``session``'s unit of work as a writer, if it has not begun (the edge calls it:
    a resident's logged read, an API change, an MLLP message).

    On SQLite that is BEGIN IMMEDIATE: in WAL mode a transaction that reads and then
    writes fails at once when another connection wrote in between (another worker, an
    MLLP connection, the batch), where a writer from the start waits its turn.

    SQLite makes such a writer wait by polling: its busy handler sleeps, up to 100 ms at a
    time, and tries again, and the lock goes to whoever asks when it is free. Under many
    writers an unlucky one waited a second and more (bench/resident_pages.py: 16 residents
    reading at once, each read logged). So the threads of one process first wait on a lock
    of their own, which wakes the next waiter as soon as it is free, and one at a time asks
    SQLite; the turn passes on when that transaction ends (commit, rollback or close).
    Other processes (the other workers, a batch) still meet at SQLite's own lock.
    """
    if session.in_transaction():
        return
    if session.get_bind().dialect.name != "sqlite":
        session.connection()
        return
    if not _write_turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
        raise OperationalError(
            "BEGIN IMMEDIATE", None, Exception("database is locked: no turn to write")
        )
    session.info[_HOLDS_TURN] = True  # once: a transaction begun already returned above
    try:
        session.connection(execution_options={"sqlite_immediate": True})
    except BaseException:
        _give_back_turn(session)
        raise


def continue_as_writer(session: Session) -> None:
    """On SQLite, end what ``session`` has read so far and go on as a writer (begin_writing).

    For a request that reads and then writes in one unit of work: a staff page that logs
    its read (PDL), a form that changes something. Begun as a reader, SQLite fails its
    first write at once when another connection (a batch, another worker) committed after
    its first read; begun as a writer it waits its turn instead. On PostgreSQL, where a
    transaction that read may still write, nothing is done.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    session.commit()
    begin_writing(session)


def holds_write_turn(session: Session) -> bool:
    """Whether ``session``'s unit of work began as a writer on SQLite and is still open."""
    return bool(session.info.get(_HOLDS_TURN))


def _give_back_turn(session: Session) -> None:
    if session.info.pop(_HOLDS_TURN, False):
        _write_turn.release()


@event.listens_for(Session, "after_transaction_end")
def _end_of_write(session: Session, transaction) -> None:
    if transaction.parent is None:  # the session's own transaction, not a savepoint
        _give_back_turn(session)


def configure_engine(engine: Engine, *, transactions: bool = True) -> None:
    """Install per-connection settings: WAL, busy timeout and foreign keys on SQLite.

    ``transactions=False`` for an autocommit engine that only reads (the operator pages'):
    no BEGIN is issued, so each statement is a transaction of its own.
    """
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

    if not transactions:
        return

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # a batch asks for the write lock up front (execution option sqlite_immediate): in
        # WAL mode a transaction that reads and then writes fails at once, busy timeout or
        # not, when another connection wrote in between
        immediate = connection.get_execution_options().get("sqlite_immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_T = TypeVar("_T")


class unindexed(ColumnElement[_T]):  # noqa: N801 - used like the column it wraps
    """``column`` in a WHERE term that must not pick the index to read by, on SQLite.

    A batch walks a table by primary key (``id > :after ORDER BY id LIMIT n``) under a
    condition on an indexed column such as ``status``. SQLite's planner prefers the
    (status, …) index and then sorts every match for each page: a walk through N rows
    costs N²/n. Rendered as ``+column`` on SQLite — its documented way to keep a term off
    an index (sqlite.org/optoverview.html, "Disqualifying WHERE clause terms using
    unary-+") — and as the bare column elsewhere: PostgreSQL weighs both plans by its
    statistics (which autovacuum keeps current) and walks by primary key when many match.
    """

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[_T] | InstrumentedAttribute[_T]) -> None:
        self.column = column
        self.type = column.type


@compiles(unindexed)
def _bare(element, compiler, **kw):
    return compiler.process(element.column, **kw)


@compiles(unindexed, "sqlite")
def _unary_plus(element, compiler, **kw):
    return "+" + compiler.process(element.column, **kw)


class months_later(ColumnElement[_T]):  # noqa: N801 - used like a SQL function
    """``timestamp`` plus ``months`` calendar months in UTC, the day clamped to the month's
    end (31 January + 1 month = 28 or 29 February): ``ep.domain.reminders.add_months`` in SQL.

    The databases disagree on month arithmetic: PostgreSQL clamps, but in the session's
    time zone; SQLite's ``date(…, '+1 months')`` runs over into the next month (3 March).
    So each gets its own spelling of the same rule.
    """

    inherit_cache = True
    _traverse_internals = [
        ("timestamp", InternalTraversal.dp_clauseelement),
        ("months", InternalTraversal.dp_clauseelement),
    ]

    def __init__(
        self,
        timestamp: ColumnElement[_T],
        months: ColumnElement[int | None] | InstrumentedAttribute[int | None],
    ) -> None:
        self.timestamp = timestamp
        self.months = months
        self.type = timestamp.type


@compiles(months_later)
def _months_later_in_utc(element, compiler, **kw):
    timestamp = compiler.process(element.timestamp, **kw)
    months = compiler.process(element.months, **kw)
    utc = f"({timestamp}) AT TIME ZONE 'UTC'"
    return f"({utc} + make_interval(months => {months})) AT TIME ZONE 'UTC'"


@compiles(months_later, "sqlite")
def _months_later_clamped(element, compiler, **kw):
    # EP's timestamps are stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: the date moves,
    # the time of day (from character 11) stays as written
    timestamp = compiler.process(element.timestamp, **kw)
    months = compiler.process(element.months, **kw)
    moved = f"date({timestamp}, printf('%+d months', {months}))"
    return (
        f"(CASE WHEN strftime('%d', {moved}) = strftime('%d', {timestamp}) THEN {moved} "
        f"ELSE date({moved}, 'start of month', '-1 day') END || substr({timestamp}, 11))"
    )
