"""The whole EP application: the core (ep.core) with the pages and the API."""

from flask import Flask

from ep.api import init_api
from ep.config import Config
from ep.core import create_core_app
from ep.web import init_web


def create_app(config: Config | None = None) -> Flask:
    """Create the EP application; the only place a web app is made (``ep.create_app``).

    Without ``config`` the configuration is loaded from ``EP_CONFIG`` or instance/ep.ini
    (ep.config.load_config), which raises ConfigError naming the file, key and problem.
    """
    app = create_core_app(config)
    init_web(app)
    init_api(app)
    return app
