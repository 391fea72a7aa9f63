"""Upgrades that keep every row: every migration, up and down, on a database with rows.

pytest-alembic's own tests (one head, upgrade from nothing, models match the DDL, each
step down and up again) plus EP's: each step on a database holding rows in every table,
and a database at each released revision upgraded to head with every row kept.
"""

import pytest
from pytest_alembic.tests import (  # noqa: F401 - collected here as tests
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

from tests.migrations.released import RELEASED
from tests.migrations.rows import (
    fill_empty_tables,
    insert_rows,
    invalid_constraints,
    row_counts,
)


def steps(alembic_runner):
    revisions = alembic_runner.history.revisions
    return [r for r in revisions if r not in ("base", "heads")]


def test_each_step_goes_down_and_up_again_with_rows_in_every_table(alembic_runner, alembic_engine):
    for revision in steps(alembic_runner):
        alembic_runner.migrate_up_to(revision)
        with alembic_engine.begin() as connection:
            fill_empty_tables(connection, revision)
            before = row_counts(connection)
        assert all(before.values()), f"empty tables at {revision}: {before}"

        alembic_runner.migrate_down_one()
        with alembic_engine.connect() as connection:
            below = row_counts(connection)
        alembic_runner.migrate_up_one()

        with alembic_engine.connect() as connection:
            again = row_counts(connection)
            assert invalid_constraints(connection) == []
        # a step down may drop what its step up made, and nothing else
        kept = {name: n for name, n in before.items() if name in below}
        assert {name: below[name] for name in kept} == kept, f"down from {revision}"
        assert {name: again[name] for name in kept} == kept, f"up to {revision} again"


@pytest.mark.parametrize("released", sorted(RELEASED))
def test_a_database_at_a_released_revision_upgrades_to_head_keeping_every_row(
    alembic_runner, alembic_engine, released
):
    alembic_runner.migrate_up_to(released)
    with alembic_engine.begin() as connection:
        insert_rows(connection, RELEASED[released])
        before = row_counts(connection)
    assert all(before.values()), f"the released rows leave tables empty: {before}"

    alembic_runner.migrate_up_to("heads")

    with alembic_engine.connect() as connection:
        after = row_counts(connection)
        assert {name: after[name] for name in before} == before
        assert invalid_constraints(connection) == []
    assert alembic_runner.current == alembic_runner.heads[0]
