"""EP (Egen Provhantering): residents order sampling packages and read their results."""

from pathlib import Path

from flask import Flask

from ep.config import Config, load_config
from ep.database import configure_engine, engine_options, operator_engine
from ep.extensions import db, migrate

MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: Config | None = None) -> Flask:
    """Create the EP application; the only place an app is made.

    Without ``config`` the configuration is loaded from ``EP_CONFIG`` or instance/ep.ini
    (ep.config.load_config), which raises ConfigError naming the file, key and problem.
    """
    if config is None:
        config = load_config()
    app = Flask(
        __name__,
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
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIRECTORY))
    from ep.healthcheck.checks import DATABASE_TIMEOUT_SECONDS

    with app.app_context():
        configure_engine(db.engine)
        # the operator pages' engine: on PostgreSQL its own, with fewer round trips per
        # request (ep.healthcheck.views.operator_session)
        app.extensions["ep_operator_engine"] = operator_engine(
            db.engine, statement_timeout_seconds=DATABASE_TIMEOUT_SECONDS
        )

    from ep.api import init_api
    from ep.web import init_web

    init_web(app)
    init_api(app)
    return app
