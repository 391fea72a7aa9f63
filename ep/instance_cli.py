"""`ep init` and `ep config show`: set up an installation and look at its configuration."""

import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade

from ep.certs import DEMO_CERT_SETTINGS, ensure_demo_certs
from ep.config import ConfigError, default_config_path, load_config
from ep.console import fail
from ep.core import create_core_app
from ep.domain.demo import load_demo
from ep.domain.installation import ensure_installation
from ep.extensions import db
from ep.instance import ensure_folders, write_ini
from ep.timeutil import utcnow


@click.command()
@click.option("--demo", is_flag=True, help="Also load the demo catalogue, resident and users.")
@click.option(
    "--instance",
    "instance_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The instance folder (default: the folder of EP_CONFIG, else ./instance).",
)
def init(demo: bool, instance_dir: Path | None) -> None:
    """Create ep.ini, the database (migrated) and, with --demo, the demo data.

    Safe to run again: what exists is kept and only what is missing is added.
    """
    path = (instance_dir / "ep.ini") if instance_dir else default_config_path()
    path = path.absolute()
    values = {"CitizenLogin": "dev"} if demo else {}
    if demo:
        for line in ensure_demo_certs(path.parent / "certs"):
            click.echo(line)
        values.update(DEMO_CERT_SETTINGS)
    database_url = os.environ.get("EP_DATABASE_URL") or "sqlite:///ep.sqlite"
    if write_ini(path, values=values, database_url=database_url):
        click.echo(f"wrote {path}")
    try:
        config = load_config(path)
    except ConfigError as exc:
        fail(str(exc))
    for folder in ensure_folders(config):
        click.echo(f"made {folder}")
    app = create_core_app(config)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        now = utcnow()
        if ensure_installation(db.session(), now=now, demo=demo):
            click.echo("recorded the installation")
        if demo:
            for line in load_demo(db.session(), now=now, history=True):
                click.echo(f"added {line}")
        db.session.commit()
    click.echo(f"EP is ready in {config.instance_path}")


@click.group(cls=AppGroup)
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
def config_show() -> None:
    """Print the effective configuration, where each value came from, secrets masked."""
    cfg = current_app.config["EP"]
    click.echo(f"; {cfg.path}")
    section = None
    for sect, key, value, source in cfg.shown():
        if sect != section:
            click.echo(f"\n[{sect}]")
            section = sect
        click.echo(f"{key} = {value}    ; {source}")
