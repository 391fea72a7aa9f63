"""Logging in one place: the web app, gunicorn and the batches log the same way.

One line per event on stderr, with time, level, logger and message; ``LogFormat = json``
makes each line a JSON object for log shippers. systemd's journal (or whatever runs EP)
collects stderr. gunicorn takes the same configuration (``logconfig_dict`` in
deploy/gunicorn.conf.py), so its error and access logs come out the same way; its access
log names the client by ``REMOTE_ADDR``, which ep.web.proxies sets from a trusted front.
"""

import logging
import logging.config
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
# gunicorn's access line without its own timestamp (the formatter adds one):
# client, request line, status, bytes, duration in ms, user agent
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'


def logging_config(log_format: str = "text", level: str = "INFO") -> dict[str, Any]:
    """The dictConfig for ``LogFormat`` (text or json): everything to stderr via the root."""
    if log_format == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"ep": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "ep",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        # gunicorn's own loggers: no handlers of their own, through the root like the rest
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": level, "handlers": [], "propagate": True},
            # alembic names each of its plugins at INFO when it is first imported, which
            # (ep.extensions makes Flask-Migrate on first use) is after this configuration
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def configure_logging(log_format: str) -> None:
    """Configure logging unless something already has (gunicorn with logconfig_dict, pytest).

    Called by create_app before Flask first touches its logger, so Flask finds a handler
    and adds none of its own (which would change the format mid-run).
    """
    if logging.getLogger().handlers:
        return
    logging.config.dictConfig(logging_config(log_format))
