"""The `ep` command: setup, users, configuration and (from ep.batches) the batches.

Scripts, schedulers and runbooks depend on these names and on the exit codes of
ep.console: 0 done, 1 failed, 2 usage or configuration error, 75 another run holds the lock.
"""

from importlib import import_module

import click
from flask.cli import AppGroup, ScriptInfo
from sqlalchemy.exc import SQLAlchemyError

from ep.config import ConfigError, load_config
from ep.console import EXIT_FAILED, fail, missing_sqlite_file, no_database_message
from ep.core import create_core_app
from ep.healthcheck.checks import one_line

# Every subcommand: where it is defined and its one-line help for `ep --help`. A command's
# module is imported only when that command runs (or shows its own --help): a monitor runs
# `ep check` every minute and should not pay for importing the backups, the demo data, the
# certificate issuing and the MLLP server. tests/test_cli.py holds each help to the
# command's own.
COMMANDS = {
    "batch": ("ep.batches.cli:batch_cli", "Run the scheduled batches and see how they are doing."),
    "certs": (
        "ep.certs:certs",
        "The demo PKI: a CA, a server certificate and client certificates.",
    ),
    "check": (
        "ep.healthcheck.cli:check",
        "The health check as a Nagios plugin: one status line with perfdata.",
    ),
    "config": ("ep.instance_cli:config", "Inspect the configuration."),
    "db": ("ep.backup.cli:db_group", "Perform database migrations."),
    "init": (
        "ep.instance_cli:init",
        "Create ep.ini, the database (migrated) and, with --demo, the demo data.",
    ),
    "mllp": (
        "ep.mllp.cli:mllp_cli",
        "HL7 v2 over MLLP: lab results into the same pipeline as the lab inbox.",
    ),
    "user": ("ep.users_cli:user", "Manage staff, admin and operator users (as EP.Admin does)."),
}

# the commands that may create the database (restore fills an empty one); every other
# one refuses a missing SQLite file
CREATES_DATABASE = (("db", "upgrade"), ("db", "restore"))


def _load_app():
    try:
        config = load_config()
    except ConfigError as exc:
        fail(str(exc))
    names = _command_names()
    missing = missing_sqlite_file(config.database_url)
    if missing is not None and names not in CREATES_DATABASE:
        fail(no_database_message(missing))
    # only `ep db …` migrates: the others (the batches every few minutes) skip importing alembic
    return create_core_app(config, migrations=names[:1] == ("db",))


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
    """`ep`: its subcommands load when used (COMMANDS), and a database that cannot be
    reached is one line and exit 1 for every command."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, name = COMMANDS[cmd_name][0].partition(":")
        command = getattr(import_module(module), name)
        assert isinstance(command, click.Command), COMMANDS[cmd_name]
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with the help in COMMANDS, importing none of them."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))  # as click.Group's own
        # a bare Command shortens the help to fit exactly as the command itself would
        rows = [
            (name, click.Command(name, help=help).get_short_help_str(limit))
            for name, (_, help) in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            fail(f"the database is unavailable: {one_line(exc)}", EXIT_FAILED)


@click.group(cls=EpGroup)
@click.version_option(package_name="ep", prog_name="ep")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """EP (Egen Provhantering): residents order sampling packages and read their results.

    The configuration is EP_CONFIG if set, else instance/ep.ini in the current folder.
    """
    if ctx.obj is None:  # the Flask test runner passes its own ScriptInfo
        ctx.obj = ScriptInfo(create_app=_load_app, set_debug_flag=False)
