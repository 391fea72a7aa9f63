"""Alembic environment for EP, run through Flask-Migrate (`ep db upgrade`)."""

import logging

from alembic import context
from flask import current_app

config = context.config
# logging is EP's (ep.logs, configured by create_app): one format for everything
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
engine = target_db.engine
config.set_main_option(
    "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


def run_migrations_offline():
    """Emit the SQL instead of running it (`ep db upgrade --sql`)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_db.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def process_revision_directives(context, revision, directives):
        # `ep db migrate` with no model change writes no empty revision
        if getattr(config.cmd_opts, "autogenerate", False):
            if directives[0].upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("compare_type", True)
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead
    conf_args.setdefault("render_as_batch", engine.dialect.name == "sqlite")

    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # batch mode rebuilds a table by copy, drop and rename: with foreign keys
            # enforced (as EP's connections are), dropping a referenced table with rows fails.
            # The pragma only takes effect outside a transaction, so it goes to the driver's
            # connection before SQLAlchemy begins one; a check follows the run.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        with context.begin_transaction():
            context.run_migrations()
        if engine.dialect.name == "sqlite":
            driver = connection.connection.driver_connection
            broken = driver.execute("PRAGMA foreign_key_check").fetchall()
            driver.execute("PRAGMA foreign_keys=ON")
            if broken:
                raise RuntimeError(f"the migration left rows without their parent: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
