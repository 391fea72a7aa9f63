"""`ep check`: the health check from the shell, as a Nagios/Icinga plugin."""

import sys

import click

from ep.config import ConfigError, load_config
from ep.console import missing_sqlite_file, no_database_message
from ep.core import create_core_app
from ep.extensions import db
from ep.healthcheck.checks import (
    EXPIRY_CACHE_FILE,
    FAIL,
    evaluate,
    expiries_remembered,
    one_line,
)
from ep.healthcheck.formats import NAGIOS_EXIT, NAGIOS_WORD, nagios
from ep.timeutil import utcnow

NAGIOS_UNKNOWN = 3


@click.command("check")
def check() -> None:
    """The health check as a Nagios plugin: one status line with perfdata.

    Exit 0 OK, 1 WARNING (e.g. a certificate expires soon), 2 CRITICAL (what makes
    HealthCheckStatus say ERROR: the database unreachable, EP not installed in it, a batch
    late, failed or stopped without finishing), 3 UNKNOWN (the configuration cannot be
    read, or the check itself broke).
    """
    try:
        config = load_config()
        missing = missing_sqlite_file(config.database_url)
        if missing is not None:  # never create an empty database just to look at it
            line = f"EP {NAGIOS_WORD[FAIL]} - {no_database_message(missing)}"
            code = NAGIOS_EXIT[FAIL]
        else:
            app = create_core_app(config, migrations=False)  # no alembic to import
            expiries = config.instance_path / EXPIRY_CACHE_FILE
            with app.app_context(), expiries_remembered(expiries):
                line, code = nagios(evaluate(db.session(), config, now=utcnow()))
                db.session.rollback()
    except ConfigError as exc:
        line, code = f"EP UNKNOWN - configuration: {exc}", NAGIOS_UNKNOWN
    except Exception as exc:  # a plugin must answer UNKNOWN, never a traceback
        line, code = f"EP UNKNOWN - {one_line(exc)}", NAGIOS_UNKNOWN
    click.echo(line)
    sys.exit(code)
