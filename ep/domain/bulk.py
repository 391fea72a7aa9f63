"""Statements for many rows at once, as each database does them fastest.

Batches store thousands of rows a run; a statement per row (what an executemany becomes
on PostgreSQL, and what SQLAlchemy's per-row parameter handling costs on any database)
would be most of their time. PostgreSQL gets COPY and one statement over arrays
(``unnest``); SQLite, in-process, an executemany on the driver.
"""

from collections.abc import Iterator
from functools import cache
from typing import Any

from sqlalchemy import Table, TableValuedAlias, bindparam, column, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert, Update

# a mapped class with an integer primary key ``id`` (its table is ``__table__``)
Model = Any
Row = dict[str, Any]


def insert_rows(session: Session, model: Model, rows: list[Row]) -> list[int]:
    """Insert ``rows`` in one go (executemany; COPY on PostgreSQL); return their ids in order.

    Not ``INSERT … RETURNING`` in parameter order: SQLAlchemy sends that one row per
    statement here (measured: six times slower on SQLite, worse on PostgreSQL). Instead,
    PostgreSQL hands out the ids first from the table's sequence (the rows then go in by
    COPY), and on SQLite the rows of one executemany get consecutive rowids in order
    (max + 1) while no other connection can write between them (this transaction holds
    SQLite's write lock), so the new ids are the table's last ``len(rows)``. The rows go
    to the driver directly, each value through its column's own conversion (UTCDateTime
    refuses a naive time): SQLAlchemy's per-row parameter handling cost more than the
    database's work here.
    """
    if not rows:
        return []
    table = model.__table__
    dialect = session.get_bind().dialect
    columns = list(rows[0])
    converted = _converted_rows(table, columns, rows, dialect)
    # the driver's own connection (a live one always has it), for psycopg's COPY or
    # sqlite3's executemany
    driver: Any = session.connection().connection.dbapi_connection
    cursor = driver.cursor()
    if dialect.name == "postgresql":
        ids = list(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"table": f'"{table.name}"', "n": len(rows)},
            )
        )
        # COPY, not executemany: psycopg sends a statement per row of an executemany
        # (measured: a third of the import's time on PostgreSQL)
        names = ", ".join(f'"{name}"' for name in ["id", *columns])
        with cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for new_id, values in zip(ids, converted, strict=True):
                copy.write_row([new_id, *values])
        return ids
    names = ", ".join(f'"{name}"' for name in columns)
    marks = ", ".join("?" * len(columns))
    try:
        cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', converted)
    finally:
        cursor.close()
    newest = session.scalars(select(model.id).order_by(model.id.desc()).limit(len(rows)))
    return list(newest)[::-1]


def _converted_rows(
    table: Table, columns: list[str], rows: list[Row], dialect: Dialect
) -> Iterator[list[Any]]:
    """Yield each row's values in ``columns`` order, as the driver takes them."""
    conversions = [
        (index, process)
        for index, name in enumerate(columns)
        if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    for row in rows:
        values = [row[name] for name in columns]
        for index, process in conversions:
            values[index] = process(values[index])
        yield values


def update_rows(session: Session, model: Model, rows: list[Row]) -> None:
    """Update rows by id, each with its own values (every dict has the same keys).

    On PostgreSQL one ``UPDATE … FROM unnest(…)`` statement with an array per column
    (built once per shape; an executemany would be a statement per row); elsewhere an
    executemany, which costs no round trips on SQLite.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(update(model), rows)
        return
    names = tuple(rows[0])
    session.execute(_update_from_arrays(model.__table__, names), _as_arrays(names, rows))


@cache
def _update_from_arrays(table: Table, names: tuple[str, ...]) -> Update:
    changes = _arrays(table, names)
    return (
        update(table)
        .where(table.c.id == changes.c.id)
        .values({name: changes.c[name] for name in names if name != "id"})
    )


def insert_new_rows(session: Session, table: Table, rows: list[Row], *, key: str) -> list[Any]:
    """Insert the rows whose ``key`` is not in ``table`` yet; return the keys inserted.

    One statement, INSERT … ON CONFLICT (key) DO NOTHING RETURNING key: it decides "new
    or already there" even against a concurrent writer of the same key, without an
    integrity error spoiling the caller's transaction. On PostgreSQL the rows go as one
    array per column (``unnest``); elsewhere as a multi-row insert. Every dict has the
    same keys.
    """
    if not rows:
        return []
    names = tuple(rows[0])
    if session.get_bind().dialect.name == "postgresql":
        statement = _insert_from_arrays(table, names, key)
        return list(session.scalars(statement, _as_arrays(names, rows)))
    return list(session.scalars(_insert_new(table, key), rows))


def _as_arrays(names: tuple[str, ...], rows: list[Row]) -> dict[str, list[Any]]:
    return {f"all_{name}": [row[name] for row in rows] for name in names}


def _arrays(table: Table, names: tuple[str, ...]) -> TableValuedAlias:
    """``unnest(:all_a, :all_b, …) AS changes(a, b, …)``, typed as the table's columns."""
    # a bind named like a column of the table is reserved for its SET or VALUES clause
    arrays = [
        bindparam(f"all_{name}", type_=postgresql.ARRAY(table.c[name].type)) for name in names
    ]
    return (
        func.unnest(*arrays)
        .table_valued(*(column(name, table.c[name].type) for name in names))
        .render_derived(name="changes")
    )


@cache
def _insert_from_arrays(table: Table, names: tuple[str, ...], key: str) -> ReturningInsert[Any]:
    changes = _arrays(table, names)
    return (
        postgresql.insert(table)
        .from_select(names, select(*(changes.c[name] for name in names)))
        .on_conflict_do_nothing(index_elements=[key])
        .returning(table.c[key])
    )


@cache
def _insert_new(table: Table, key: str) -> ReturningInsert[Any]:
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
