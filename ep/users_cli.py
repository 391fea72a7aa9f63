"""`ep user …`: manage staff, admin and operator users from the shell."""

import getpass
import os

import click
from flask.cli import AppGroup

from ep.console import fail
from ep.domain import DomainError
from ep.domain.audit import Actor
from ep.domain.users import (
    add_user,
    get_user,
    grant_role,
    list_users,
    revoke_role,
    set_active,
)
from ep.extensions import db
from ep.identity import InvalidIdentifier
from ep.timeutil import utcnow


def cli_actor() -> Actor:
    """The actor for audit events of changes made from the shell."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = str(os.getuid())
    return Actor.system(f"cli:{who}")


@click.group(cls=AppGroup)
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
    _change_role(hsa_id, role, grant_role, done="now has", unchanged="already had")


@user.command("revoke")
@click.argument("hsa_id")
@click.argument("role", metavar="ROLE")
def user_revoke(hsa_id, role) -> None:
    """Take the role ROLE from the user with HSA_ID."""
    _change_role(hsa_id, role, revoke_role, done="no longer has", unchanged="did not have")


def _change_role(hsa_id: str, role: str, change_role, *, done: str, unchanged: str) -> None:
    """Grant or revoke (``change_role``) ROLE and say which way it went."""

    def change(found, actor, now):
        changed = change_role(db.session(), found, role, actor=actor, now=now)
        return f"{found.hsa_id} {done if changed else unchanged} role {role}"

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
