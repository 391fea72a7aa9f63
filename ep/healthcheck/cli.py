"""`ep check`: the health check from the shell, as a Nagios/Icinga plugin."""

import sys

import click

NAGIOS_UNKNOWN = 3


@click.command("check")
def check() -> None:
    """The health check as a Nagios plugin: one status line with perfdata.

    Exit 0 OK, 1 WARNING (e.g. a certificate expires soon), 2 CRITICAL (what makes
    HealthCheckStatus say ERROR, the database unreachable included), 3 UNKNOWN (the
    configuration cannot be read, or the check itself broke).
    """
    from ep import create_app
    from ep.config import ConfigError, load_config
    from ep.extensions import db
    from ep.healthcheck.checks import evaluate
    from ep.healthcheck.formats import nagios
    from ep.timeutil import utcnow

    try:
        app = create_app(load_config())
        with app.app_context():
            line, code = nagios(evaluate(db.session, app.config["EP"], now=utcnow()))
            db.session.rollback()
    except ConfigError as exc:
        line, code = f"EP UNKNOWN - configuration: {exc}", NAGIOS_UNKNOWN
    except Exception as exc:  # a plugin must answer UNKNOWN, never a traceback
        line, code = f"EP UNKNOWN - {type(exc).__name__}: {exc}", NAGIOS_UNKNOWN
    click.echo(line)
    sys.exit(code)
