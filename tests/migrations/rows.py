"""Reading and filling a database at any revision, whatever tables it has then."""

from datetime import UTC, datetime

from sqlalchemy import MetaData, func, inspect, select, text, types
from sqlalchemy.engine import Connection

from tests.migrations.released import RELEASED

FILLED_AT = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # the night summer time ends


def row_counts(connection: Connection) -> dict[str, int]:
    """Return the rows of every table but alembic_version."""
    counts: dict[str, int] = {}
    for name in sorted(inspect(connection).get_table_names()):
        if name != "alembic_version":
            counts[name] = (
                connection.scalar(select(func.count()).select_from(text(f'"{name}"'))) or 0
            )
    return counts


def insert_rows(connection: Connection, rows: list[dict]) -> None:
    """Insert rows given as dicts with a ``__tablename__``, as the tables now are."""
    meta = MetaData()
    meta.reflect(connection)
    for row in rows:
        values = dict(row)
        table = meta.tables[values.pop("__tablename__")]
        connection.execute(table.insert().values(values))


def fill_empty_tables(connection: Connection, revision: str) -> None:
    """Put rows in every table that has none: the released rows, else one made up.

    A table added after the last release gets one row made from its column types, its
    foreign keys pointing at rows already there. A table with rules no made-up row can
    meet (a CHECK on a status) gets its rows in tests/migrations/released.py instead.
    """
    counts = row_counts(connection)
    released = [r for r in RELEASED.get(revision, []) if not counts.get(r["__tablename__"])]
    insert_rows(connection, released)
    meta = MetaData()
    meta.reflect(connection)
    for table in meta.sorted_tables:
        if table.name == "alembic_version":
            continue
        if connection.scalar(select(func.count()).select_from(table)):
            continue
        try:
            with connection.begin_nested():
                connection.execute(table.insert().values(_made_up_row(connection, table)))
        except Exception as exc:
            raise AssertionError(
                f"table {table.name} at revision {revision} needs representative rows in "
                f"tests/migrations/released.py: a made-up row was refused: {exc}"
            ) from exc


def _made_up_row(connection: Connection, table) -> dict:
    row = {}
    for column in table.columns:
        generated = column.primary_key and isinstance(column.type, types.Integer)
        if generated and len(table.primary_key.columns) == 1:
            continue
        foreign = next(iter(column.foreign_keys), None)
        if foreign is not None:
            target = foreign.column
            value = connection.scalar(select(target).limit(1))
            if value is None and not column.nullable:
                raise AssertionError(f"{table.name}.{column.name}: {target.table.name} is empty")
            row[column.name] = value
            continue
        row[column.name] = _value_of(column)
    return row


def _value_of(column):
    kind = column.type
    if isinstance(kind, types.Boolean):
        return False
    if isinstance(kind, types.Integer):
        return 1
    if isinstance(kind, types.Float | types.Numeric):
        return 1.5
    if isinstance(kind, types.DateTime):
        return FILLED_AT
    if isinstance(kind, types.Date):
        return FILLED_AT.date()
    if isinstance(kind, types.LargeBinary):
        return b"\x00ep"
    if isinstance(kind, types.JSON):
        return {}
    length = getattr(kind, "length", None) or 40
    return f"{column.name}-1"[:length]


def invalid_constraints(connection: Connection) -> list[str]:
    """Return the constraints the database does not hold the rows to: none is the goal.

    PostgreSQL: a constraint left NOT VALID (its VALIDATE forgotten) or an index left
    INVALID (a CREATE INDEX CONCURRENTLY that failed). SQLite: rows whose
    foreign keys point nowhere (it checks them only on write, and only when told to).
    """
    if connection.dialect.name == "postgresql":
        found = connection.execute(
            text(
                "SELECT conrelid::regclass || ': ' || conname FROM pg_constraint"
                " WHERE NOT convalidated AND connamespace = current_schema()::regnamespace"
                " UNION ALL"
                " SELECT indrelid::regclass || ': index ' || indexrelid::regclass FROM pg_index"
                " JOIN pg_class ON pg_class.oid = indexrelid"
                " WHERE NOT indisvalid AND relnamespace = current_schema()::regnamespace"
            )
        )
        return list(found.scalars())
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    return [f"{row[0]} row {row[1]} -> {row[2]}" for row in violations]
