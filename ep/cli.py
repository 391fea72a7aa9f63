"""The `ep` command: setup, users, configuration and (from ep.batches) the batches.

Scripts, schedulers and runbooks depend on these names and on the exit codes of
ep.console: 0 done, 1 failed, 2 usage or configuration error, 75 another run holds the lock.
"""

import getpass
import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, ScriptInfo
from flask_migrate import upgrade
from flask_migrate.cli import db as db_group
from sqlalchemy.exc import SQLAlchemyError

from ep.backup.cli import backup_command, restore_command
from ep.batches.cli import batch_cli
from ep.certs import DEMO_CERT_SETTINGS, ensure_demo_certs
from ep.certs import certs as certs_group
from ep.config import ConfigError, default_config_path, load_config
from ep.console import EXIT_FAILED, fail, missing_sqlite_file, no_database_message
from ep.core import create_core_app
from ep.domain import DomainError
from ep.domain.audit import Actor
from ep.domain.demo import load_demo
from ep.domain.installation import ensure_installation
from ep.domain.users import (
    add_user,
    get_user,
    grant_role,
    list_users,
    revoke_role,
    set_active,
)
from ep.extensions import db
from ep.healthcheck.checks import one_line
from ep.healthcheck.cli import check as check_command
from ep.identity import InvalidIdentifier
from ep.instance import ensure_folders, write_ini
from ep.mllp.cli import mllp_cli
from ep.timeutil import utcnow

# the commands that may create the database (restore fills an empty one); every other
# one refuses a missing SQLite file
CREATES_DATABASE = (("db", "upgrade"), ("db", "restore"))


def _load_app():
    try:
        config = load_config()
    except ConfigError as exc:
        fail(str(exc))
    missing = missing_sqlite_file(config.database_url)
    if missing is not None and _command_names() not in CREATES_DATABASE:
        fail(no_database_message(missing))
    return create_core_app(config)


def _command_names() -> tuple[str, ...]:
    """The subcommand being run, as names below `ep`: ("db", "upgrade")."""
    names = []
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.invoked_subcommand:  # a group that loads the app (`ep db`)
        names.append(ctx.invoked_subcommand)
    while ctx is not None and ctx.parent is not None:
        assert ctx.info_name is not None  # a subcommand's context has its name
        names.append(ctx.info_name)
        ctx = ctx.parent
    return tuple(reversed(names))


class EpGroup(AppGroup):
    """`ep`: a database that cannot be reached is one line and exit 1 for every command."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            fail(f"the database is unavailable: {one_line(exc)}", EXIT_FAILED)


def cli_actor() -> Actor:
    """The actor for audit events of changes made from the shell."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = str(os.getuid())
    return Actor.system(f"cli:{who}")


@click.group(cls=EpGroup)
@click.version_option(package_name="ep", prog_name="ep")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """EP (Egen Provhantering): residents order sampling packages and read their results.

    The configuration is EP_CONFIG if set, else instance/ep.ini in the current folder.
    """
    if ctx.obj is None:  # the Flask test runner passes its own ScriptInfo
        ctx.obj = ScriptInfo(create_app=_load_app, set_debug_flag=False)


cli.add_command(db_group)
db_group.add_command(backup_command)
db_group.add_command(restore_command)
cli.add_command(batch_cli)
cli.add_command(certs_group)
cli.add_command(check_command)
cli.add_command(mllp_cli)


@cli.command(with_appcontext=False)
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


@cli.group()
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


@cli.group()
def user() -> None:
    """Manage staff, admin and operator users (as EP.Admin does)."""


def _change_user(hsa_id: str | None, change) -> None:
    """Apply ``change(user, actor, now) -> message`` to the user with HSA_ID and commit.

    With ``hsa_id`` None the change finds or makes its own user. Bad input is one line, exit 2.
    """
    try:
        found = get_user(db.session(), hsa_id) if hsa_id is not None else None
        message = change(found, cli_actor(), utcnow())
        db.session.commit()
    except (DomainError, InvalidIdentifier) as exc:
        db.session.rollback()
        fail(str(exc))
    click.echo(message)


ROLE_HELP = "staff | admin | operator | integration"


@user.command("add")
@click.argument("hsa_id")
@click.option("--name", required=True, help="The user's full name.")
@click.option("--role", "roles", multiple=True, metavar="ROLE", help=f"{ROLE_HELP}; repeatable.")
@click.option("--care-unit", help="HSA-ID of the user's care unit (for the PDL log).")
@click.option("--care-unit-name", help="Name of the care unit.")
def user_add(hsa_id, name, roles, care_unit, care_unit_name) -> None:
    """Add the user with HSA_ID (e.g. SE2321000016-1234)."""

    def change(_, actor, now):
        added = add_user(
            db.session(),
            hsa_id=hsa_id,
            name=name,
            roles=roles,
            care_unit_hsa_id=care_unit,
            care_unit_name=care_unit_name,
            actor=actor,
            now=now,
        )
        return f"added {added.hsa_id} {added.name} ({', '.join(sorted(added.roles)) or 'no roles'})"

    _change_user(None, change)


@user.command("grant")
@click.argument("hsa_id")
@click.argument("role", metavar="ROLE")
def user_grant(hsa_id, role) -> None:
    """Give the user with HSA_ID the role ROLE (staff | admin | operator | integration)."""

    def change(found, actor, now):
        done = grant_role(db.session(), found, role, actor=actor, now=now)
        return f"{found.hsa_id} {'now has' if done else 'already had'} role {role}"

    _change_user(hsa_id, change)


@user.command("revoke")
@click.argument("hsa_id")
@click.argument("role", metavar="ROLE")
def user_revoke(hsa_id, role) -> None:
    """Take the role ROLE from the user with HSA_ID."""

    def change(found, actor, now):
        done = revoke_role(db.session(), found, role, actor=actor, now=now)
        return f"{found.hsa_id} {'no longer has' if done else 'did not have'} role {role}"

    _change_user(hsa_id, change)


@user.command("deactivate")
@click.argument("hsa_id")
def user_deactivate(hsa_id) -> None:
    """Deactivate the user with HSA_ID: every request by it is refused from now on."""
    _set_active(hsa_id, False)


@user.command("activate")
@click.argument("hsa_id")
def user_activate(hsa_id) -> None:
    """Activate the user with HSA_ID again."""
    _set_active(hsa_id, True)


def _set_active(hsa_id: str, active: bool) -> None:
    def change(found, actor, now):
        if set_active(db.session(), found, active, actor=actor, now=now):
            return f"{found.hsa_id} {'activated' if active else 'deactivated'}"
        return f"{found.hsa_id} was already {'active' if active else 'inactive'}"

    _change_user(hsa_id, change)


@user.command("list")
def user_list() -> None:
    """List every user with roles and whether it is active."""
    users = list_users(db.session())
    if not users:
        click.echo("no users")
    for found in users:
        state = "active" if found.active else "INACTIVE"
        roles = ",".join(sorted(found.roles)) or "-"
        click.echo(f"{found.hsa_id:<31}  {state:<8}  {roles:<28}  {found.name}")
