"""squawk passes every migration's PostgreSQL SQL, and still catches what locks a big table."""

import shutil

from alembic.script import ScriptDirectory

from ep import MIGRATIONS_DIRECTORY
from migrations.lint import lint

HEAD = "{head}"

LOCKING = '''
"""an index and a foreign key the way that locks a big table"""
from alembic import op
import sqlalchemy as sa

revision = "9999"
down_revision = "{head}"


def upgrade():
    op.add_column("result", sa.Column("checked_by_id", sa.Integer(), nullable=True))
    op.create_index("ix_result_checked_by_id", "result", ["checked_by_id"])
    op.create_foreign_key(
        "fk_result_checked_by_id_user", "result", "user", ["checked_by_id"], ["id"]
    )


def downgrade():
    pass
'''

SAFE = '''
"""the same index and foreign key, as a big table needs them"""
from alembic import op
import sqlalchemy as sa

revision = "9999"
down_revision = "{head}"


def upgrade():
    op.add_column("result", sa.Column("checked_by_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_result_checked_by_id_user", "result", "user", ["checked_by_id"], ["id"],
        postgresql_not_valid=True,
    )
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE result VALIDATE CONSTRAINT fk_result_checked_by_id_user")
        op.create_index(
            "ix_result_checked_by_id", "result", ["checked_by_id"], postgresql_concurrently=True
        )


def downgrade():
    pass
'''


def test_every_migration_passes_squawk():
    done = lint()
    assert done.returncode == 0, done.stdout + done.stderr


def with_migration(tmp_path, text):
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIRECTORY, directory, ignore=shutil.ignore_patterns("__pycache__"))
    head = ScriptDirectory(str(directory)).get_current_head()
    (directory / "versions" / "9999_new.py").write_text(text.replace(HEAD, head))
    return directory


def test_squawk_refuses_a_plain_index_and_a_validated_foreign_key_on_an_existing_table(tmp_path):
    done = lint(with_migration(tmp_path, LOCKING))

    assert done.returncode != 0
    assert "9999.sql" in done.stdout
    assert "require-concurrent-index-creation" in done.stdout
    assert "adding-foreign-key-constraint" in done.stdout


def test_squawk_passes_a_concurrent_index_and_a_foreign_key_validated_apart(tmp_path):
    done = lint(with_migration(tmp_path, SAFE))

    assert done.returncode == 0, done.stdout + done.stderr
