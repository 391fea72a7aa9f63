"""The real `ep` command, run as a scheduler or an operator would run it."""

import sqlite3
import subprocess
import sys

import click
import pytest
from sqlalchemy import func, select

from ep.batches.spine import SPINE
from ep.cli import COMMANDS, cli
from ep.identity.certificates import make_ca
from ep.models import AuditEvent, Offer, Package, Person, SamplingLocation, User
from tests.support import make_instance, run_ep


def count_rows(db_file, table):
    with sqlite3.connect(db_file) as conn:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


DEMO_TABLES = ("analysis", "package", "sampling_location", "person", "user", "offer")


def test_init_demo_makes_a_working_installation_and_a_second_run_changes_nothing(tmp_path):
    config = tmp_path / "instance" / "ep.ini"
    first = run_ep("init", "--demo", "--instance", str(tmp_path / "instance"), config=config)
    assert first.returncode == 0, first.stderr
    assert f"wrote {config}" in first.stdout
    assert "added resident 19121212-1212 Tolvan Tolvansson" in first.stdout
    db_file = tmp_path / "instance" / "ep.sqlite"
    counts = {table: count_rows(db_file, table) for table in DEMO_TABLES}
    assert counts == {
        "analysis": 7,
        "package": 5,
        "sampling_location": 3,
        "person": 1,
        "user": 4,  # staff, admin, operator and the integration system
        "offer": 2,
    }
    ini = config.read_text(encoding="utf-8")
    assert "CitizenLogin = dev" in ini and ";HealthCheckErrorStatusCode = 503" in ini

    second = run_ep("init", "--demo", "--instance", str(tmp_path / "instance"), config=config)
    assert second.returncode == 0, second.stderr
    assert "wrote" not in second.stdout and "added" not in second.stdout
    assert {table: count_rows(db_file, table) for table in DEMO_TABLES} == counts
    assert config.read_text(encoding="utf-8") == ini


def test_init_demo_on_the_test_database_is_idempotent(app, db_session, config_path, database_url):
    def counts():
        db_session.rollback()
        return [
            db_session.scalar(select(func.count()).select_from(model))
            for model in (Package, SamplingLocation, Person, User, Offer, AuditEvent)
        ]

    env = {"EP_DATABASE_URL": database_url}
    first = run_ep("init", "--demo", config=config_path, env=env)
    assert first.returncode == 0, first.stderr
    after_first = counts()
    assert after_first[:5] == [5, 3, 1, 4, 2]
    second = run_ep("init", "--demo", config=config_path, env=env)
    assert second.returncode == 0, second.stderr
    assert counts() == after_first


def test_a_configuration_error_is_one_line_and_exit_2(tmp_path):
    config = tmp_path / "ep.ini"
    config.write_text("[appSettings]\nPURGEWarnAfterMinutesInactivity = weekly\n")
    result = run_ep("user", "list", config=config)
    assert result.returncode == 2
    assert result.stderr == (
        f"ep: {config}: PURGEWarnAfterMinutesInactivity: 'weekly' is not a whole number\n"
    )


def test_a_missing_configuration_says_to_run_init(tmp_path):
    result = run_ep("user", "list", config=tmp_path / "ep.ini")
    assert result.returncode == 2
    assert "configuration file not found (run `ep init`" in result.stderr


def test_users_are_added_granted_revoked_and_deactivated(runner, db_session):
    def ep(*args):
        return runner.invoke(cli, list(args))

    added = ep("user", "add", "SE2321000016-7777", "--name", "Ada Berg", "--role", "staff")
    assert added.exit_code == 0, added.output
    assert "added SE2321000016-7777 Ada Berg (staff)" in added.output
    assert "now has role operator" in ep("user", "grant", "se2321000016-7777", "operator").output
    again = ep("user", "grant", "SE2321000016-7777", "operator")
    assert "already had role operator" in again.output
    assert "no longer has role staff" in ep("user", "revoke", "SE2321000016-7777", "staff").output
    assert "deactivated" in ep("user", "deactivate", "SE2321000016-7777").output
    listing = ep("user", "list").output
    assert "SE2321000016-7777" in listing and "INACTIVE" in listing and "operator" in listing

    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == "SE2321000016-7777")
    ).all()
    assert actions == ["user:add", "user:grant", "user:revoke", "user:deactivate"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add", "SE12", "--name", "X"], "ep: SE12: not an HSA-ID"),
        (["user", "add", "SE2321000016-1", "--name", "X", "--role", "boss"], "unknown role 'boss'"),
        (["user", "grant", "SE2321000016-404", "staff"], "no user with HSA-ID SE2321000016-404"),
        (["user", "grant", "SE2321000016-404", "chief"], "no user with HSA-ID"),
        (["user", "deactivate", "nobody"], "ep: NOBODY: not an HSA-ID"),
    ],
)
def test_bad_input_to_user_commands_is_one_line_and_exit_2(runner, db_session, args, message):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_taken_hsa_id_is_refused(runner, staff_user):
    result = runner.invoke(cli, ["user", "add", staff_user.hsa_id, "--name", "Other"])
    assert result.exit_code == 2
    assert "already exists" in result.output


def test_config_show_gives_each_value_its_source_and_masks_secrets(config_path):
    result = run_ep("config", "show", config=config_path, env={"EP_SmsGatewayToken": "tok-123"})
    assert result.returncode == 0, result.stderr
    assert "tok-123" not in result.stdout
    assert "SmsGatewayToken = ********    ; environment EP_SmsGatewayToken" in result.stdout
    assert "HealthCheckErrorStatusCode = 503    ; default" in result.stdout
    assert f"SecretKey = ********    ; {config_path}" in result.stdout


@pytest.mark.parametrize(
    "command",
    [[], ["init"], ["config", "show"], ["user"], ["user", "add"], ["user", "grant"], ["db"]],
)
def test_every_command_explains_itself(runner, command):
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output


def test_the_ep_command_loads_neither_the_pages_nor_the_api():
    # a monitor runs `ep check` every minute: the command's start-up is what it pays
    probe = (
        "import sys, ep.cli, ep.healthcheck.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('ep.web', 'ep.api', 'ep.app'))))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[]"


def test_ep_help_lists_every_command_with_the_commands_own_help(runner):
    listed = runner.invoke(cli, ["--help"])
    assert listed.exit_code == 0
    for name, (_, help) in COMMANDS.items():
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        assert command.get_short_help_str(limit=1000) == help
        assert f"  {name} " in listed.output
        result = runner.invoke(cli, [name, "--help"], prog_name="ep")
        assert result.exit_code == 0, result.output
        assert f"Usage: ep {name} " in result.output


# what `ep check` (a monitor runs it every minute) and `ep batch status` leave alone: the
# migrations (alembic, and mako with pygments where pygments is installed), the pages'
# extensions and rate limits, the other commands' modules, the batches' own modules, and certificate
# parsing (cryptography) while the certificate files are as the last `ep check` saw them
NOT_FOR_CHECKING = (
    *(spec.module for spec in SPINE),
    "ep.labformats",
    "alembic",
    "mako",
    "pygments",
    "flask_migrate",
    "flask_babel",
    "flask_wtf",
    "flask_limiter",
    "limits",
    "ep.web",
    "ep.api",
    "ep.backup.cli",
    "ep.certs",
    "ep.domain.demo",
    "ep.instance_cli",
    "ep.mllp",
    "ep.users_cli",
    "cryptography",
)


# runs the script given after it (the real `ep`) as its own Python would, then names every
# module it imported on stderr. (python -X importtime would not name those importlib
# loads, as `ep` loads its commands and `ep batch` its batches.)
WITH_MODULES_SHOWN = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    import gc
    print("imported:", *sys.modules, file=sys.stderr)
    print("frozen:", gc.get_freeze_count(), "unfrozen:", len(gc.get_objects()), file=sys.stderr)
"""


def imported_by_ep(*args: str, config) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run the real `ep ARGS`; return its result and which of NOT_FOR_CHECKING it imported."""
    result = run_ep(*args, config=config, python_options=("-c", WITH_MODULES_SHOWN))
    shown = [line for line in result.stderr.splitlines() if line.startswith("imported: ")]
    assert len(shown) == 1, result.stderr
    names = shown[0].split()[1:]
    return result, {
        package
        for package in NOT_FOR_CHECKING
        if any(name == package or name.startswith(f"{package}.") for name in names)
    }


def test_ep_check_reads_the_certificates_only_when_they_changed_since_its_last_run(
    migrated, tmp_path, now
):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(make_ca("Short CA", now=now, days=10).cert_pem)
    config = make_instance(tmp_path, migrated, TrustedCaFile=str(ca_file))

    first, imported = imported_by_ep("check", config=config)
    assert "'trustedCa_expiry'=10.0;;" in first.stdout, first.stdout + first.stderr
    assert imported == {"cryptography"}  # the file is read once

    again, imported = imported_by_ep("check", config=config)
    assert "'trustedCa_expiry'=10.0;;" in again.stdout, again.stdout + again.stderr
    assert imported == set()

    ca_file.write_bytes(make_ca("Long CA", now=now, days=100).cert_pem)
    renewed, imported = imported_by_ep("check", config=config)
    assert "'trustedCa_expiry'=100.0;;" in renewed.stdout, renewed.stdout + renewed.stderr
    assert imported == {"cryptography"}


def test_ep_batch_status_imports_nothing_it_does_not_show(config_path):
    result, imported = imported_by_ep("batch", "status", config=config_path)
    assert "NOTIFYREMINDERS" in result.stdout, result.stdout + result.stderr
    assert imported == set()


def test_ep_freezes_what_its_imports_made_so_no_collection_walks_it_again(config_path):
    # about 0.1 s of CPU per `ep check` (bench/RESULTS.md): the collector would otherwise
    # walk every module's objects during the imports and again at exit
    result = run_ep("check", config=config_path, python_options=("-c", WITH_MODULES_SHOWN))
    frozen = [line for line in result.stderr.splitlines() if line.startswith("frozen: ")]
    assert len(frozen) == 1, result.stderr
    _, count, _, unfrozen = frozen[0].split()
    # what the command made after the imports is not frozen: on PostgreSQL that includes
    # psycopg, imported with the first connection
    assert int(count) > 2 * int(unfrozen)
