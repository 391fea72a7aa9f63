"""Every foreign key is indexed on its referencing side, in the models and in the database.

Without that index, deleting (or re-keying) a referenced row makes the database scan the
whole referencing table once per row: at region scale PURGE spent a second per deleted
result that way.
"""

from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint, inspect

from ep.extensions import db
from ep.models import Base


def _covered(columns: list[str], leading_column_lists: list[list[str]]) -> bool:
    """Whether some index or key starts with exactly these columns (in any order)."""
    return any(set(lead[: len(columns)]) == set(columns) for lead in leading_column_lists)


def test_every_foreign_key_in_the_models_has_an_index_that_starts_with_it():
    missing = []
    for table in Base.metadata.sorted_tables:
        leads = [[column.name for column in index.columns] for index in table.indexes]
        leads += [
            [column.name for column in constraint.columns]
            for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint)
        ]
        for key in table.foreign_key_constraints:
            columns = [column.name for column in key.columns]
            if not _covered(columns, leads):
                missing.append(f"{table.name}({', '.join(columns)})")
    assert missing == []


def test_every_foreign_key_in_the_migrated_database_has_an_index(app):
    with app.app_context():
        inspector = inspect(db.engine)
        missing = []
        for table in inspector.get_table_names():
            leads = [index["column_names"] for index in inspector.get_indexes(table)]
            leads += [u["column_names"] for u in inspector.get_unique_constraints(table)]
            leads.append(inspector.get_pk_constraint(table)["constrained_columns"])
            for key in inspector.get_foreign_keys(table):
                if not _covered(key["constrained_columns"], leads):
                    missing.append(f"{table}({', '.join(key['constrained_columns'])})")
    assert missing == []
