"""Declarative base: naming convention and UTC-aware timestamps for every model."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import ColumnElement, DateTime, Index, MetaData, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def partial_index(name: str, *columns: str, where: ColumnElement[bool]) -> Index:
    """An index over only the rows matching ``where``, the same on PostgreSQL and SQLite.

    For the small sets a region's history must not slow down: results not yet released,
    quarantined lab messages, orders held for contact.
    """
    return Index(name, *columns, postgresql_where=where, sqlite_where=where)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL keeps the zone (timestamptz); SQLite stores text without one, so values
    are converted to UTC on the way in and marked UTC on the way out. Naive values are
    refused: a guessed zone is how DST makes a batch look late.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: EP stores only timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    if TYPE_CHECKING:
        # every EP model is mapped to a Table (DeclarativeBase allows any FROM clause)
        __table__: ClassVar[Table]

    # one explicit registry: Flask-SQLAlchemy subclasses this base, and SQLAlchemy 2.1
    # refuses a type_annotation_map declared on a base that a subclass inherits
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )
