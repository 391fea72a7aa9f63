"""`ep mllp serve`: the MLLP listener as a command (systemd: deploy/systemd/ep-mllp.service)."""

import logging

import click
from flask import current_app
from flask.cli import AppGroup

from ep.mllp.server import serve

DEFAULT_PORT = 2575  # the port IANA lists for HL7 over MLLP


@click.group("mllp", cls=AppGroup)
def mllp_cli() -> None:
    """HL7 v2 over MLLP: lab results into the same pipeline as the lab inbox."""


@mllp_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port, printed at start).",
)
def mllp_serve(host: str, port: int) -> None:
    """Receive ORU^R01 over MLLP; ACK each message once it is stored. SIGTERM stops it."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        # the server outlives this app context: it needs the app itself, not the proxy
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        serve(app, host, port, ready=click.echo)
    except OSError as exc:
        click.echo(f"ep: cannot listen on {host}:{port}: {exc}", err=True)
        raise SystemExit(2) from None
