"""The application without pages or API: configuration, logging, database, migrations.

The `ep` command needs no more than this; ep.app.create_app adds the pages and the API.
"""

from flask import Flask

from ep import MIGRATIONS_DIRECTORY, extensions
from ep.config import Config, load_config
from ep.database import configure_engine, engine_options, operator_engine
from ep.extensions import db
from ep.healthcheck.checks import DATABASE_TIMEOUT_SECONDS
from ep.logs import configure_logging


def create_core_app(config: Config | None = None, *, migrations: bool = True) -> Flask:
    """Create the EP application without its pages and API (the `ep` command's app).

    Without ``config`` the configuration is loaded from ``EP_CONFIG`` or instance/ep.ini
    (ep.config.load_config), which raises ConfigError naming the file, key and problem.
    ``migrations=False`` leaves out Flask-Migrate (`ep db …`, ``flask_migrate.upgrade``),
    and with it the import of alembic: the health check and the batches do not migrate.
    """
    if config is None:
        config = load_config()
    configure_logging(config["LogFormat"])
    app = Flask(
        "ep",
        instance_path=str(config.instance_path),
        template_folder="web/templates",
        static_folder="web/static",
    )
    app.config.update(
        EP=config,
        SECRET_KEY=config["SecretKey"] or None,
        SQLALCHEMY_DATABASE_URI=config.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(config.database_url),
    )

    db.init_app(app)
    if migrations:
        extensions.migrate.init_app(app, db, directory=str(MIGRATIONS_DIRECTORY))

    with app.app_context():
        configure_engine(db.engine)
        # the operator pages' engine, their own: autocommit, fewer statements per
        # request (ep.web.operator.operator_session)
        app.extensions["ep_operator_engine"] = operator_engine(
            db.engine, statement_timeout_seconds=DATABASE_TIMEOUT_SECONDS
        )
    return app
