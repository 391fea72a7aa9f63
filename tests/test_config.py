import os
import subprocess
import sys
from pathlib import Path

import pytest
from limits import parse_many

from ep.config import BUILT_IN_RATE_LIMITS, ConfigError, load_config
from tests.support import make_instance, run_ep


@pytest.fixture
def ini(tmp_path):
    return make_instance(tmp_path, "sqlite:///ep.sqlite")


def write(ini: Path, settings: str) -> Path:
    ini.write_text(
        ini.read_text(encoding="utf-8").replace("[appSettings]", f"[appSettings]\n{settings}"),
        encoding="utf-8",
    )
    return ini


def test_defaults_hold_where_the_file_says_nothing(ini):
    config = load_config(ini, environ={})
    assert config["NOTIFYREMINDERSWarnAfterMinutesInactivity"] == 1500
    assert config["HealthCheckErrorStatusCode"] == 503
    assert config.sources["HealthCheckErrorStatusCode"] == "default"


def test_relative_paths_are_relative_to_the_instance_folder(ini, tmp_path):
    config = load_config(ini, environ={})
    assert config.database_url == f"sqlite:///{tmp_path / 'ep.sqlite'}"
    assert config.path_of("LabInboxDirectory") == tmp_path / "inbox"


def test_the_file_overrides_a_default_and_says_so(ini):
    config = load_config(write(ini, "HealthCheckErrorStatusCode = 200"), environ={})
    assert config["HealthCheckErrorStatusCode"] == 200
    assert config.sources["HealthCheckErrorStatusCode"] == str(ini)


def test_the_environment_overrides_the_file(ini):
    write(ini, "IMPORTRESULTSWarnAfterMinutesInactivity = 45")
    config = load_config(
        ini,
        environ={
            "EP_IMPORTRESULTSWarnAfterMinutesInactivity": "60",
            "EP_DATABASE_URL": "postgresql+psycopg://ep@db.example.invalid/ep",
        },
    )
    assert config["IMPORTRESULTSWarnAfterMinutesInactivity"] == 60
    assert config.sources["IMPORTRESULTSWarnAfterMinutesInactivity"].startswith("environment")
    assert config.database_url == "postgresql+psycopg://ep@db.example.invalid/ep"


def test_ep_config_picks_the_file(ini, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)
    assert load_config(environ={"EP_CONFIG": str(ini)}).path == ini


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            "NOTIFYREMINDERSWarnAfterMinutesInactivity = often",
            "NOTIFYREMINDERSWarnAfterMinutesInactivity: 'often' is not a whole number",
        ),
        (
            "NOTIFYREMINDERZWarnAfterMinutesInactivity = 10",
            "unknown batch name 'NOTIFYREMINDERZ'",
        ),
        ("Colour = blue", "[appSettings] Colour: unknown key"),
        ("TrustedCaFile = certs/missing.pem", "TrustedCaFile: file not found"),
        ("ClientCertificateSource = maybe", "'maybe' is not one of: tls, header"),
        ("TrustedProxies = 10.0.0.300", "'10.0.0.300' is not an IP address or network"),
        ("HealthCheckErrorStatusCode = 42", "42 is not an HTTP status code"),
        ("NotificationChannel = sms, pigeon", "NotificationChannel: 'pigeon' is not one of"),
        ("NotificationChannel = file, smtp", "file sends every message to files"),
        ("NotificationChannel = sms", "sms is enabled but SmsGatewayUrl is not set"),
        ("SmsGatewayUrl = gateway.example", "'gateway.example' is not an http:// or https://"),
        ("KitCodeRateLimit = often", "KitCodeRateLimit: 'often' is not a rate limit"),
        ("SessionIdleMinutes = 0", "SessionIdleMinutes: '0' must be a whole number above 0"),
        ("BackupDirectory =", "BackupDirectory: empty; a folder is needed"),
        ("NotificationDirectory =", "NotificationDirectory: empty; a folder is needed"),
        ("LabInboxDirectory =", "LabInboxDirectory: empty; a folder is needed"),
    ],
)
def test_a_bad_value_stops_with_one_line_naming_file_key_and_problem(ini, settings, message):
    with pytest.raises(ConfigError) as raised:
        load_config(write(ini, settings), environ={})
    text = str(raised.value)
    assert "\n" not in text
    assert text.startswith(str(ini))
    assert message in text


def test_an_empty_ack_folder_is_allowed_and_switches_the_acks_off(ini):
    assert (
        load_config(write(ini, "LabAckDirectory ="), environ={}).path_of("LabAckDirectory") is None
    )


def test_notification_channel_is_a_list_of_transports(ini):
    single = load_config(write(ini, "NotificationChannel = smtp"), environ={})
    both = load_config(
        ini,
        environ={
            "EP_NotificationChannel": "sms, SMTP",
            "EP_SmsGatewayUrl": "https://sms.example.invalid/send",
        },
    )
    assert single["NotificationChannel"] == ("smtp",)
    assert both["NotificationChannel"] == ("sms", "smtp")


def test_a_bad_environment_value_names_the_variable(ini):
    with pytest.raises(ConfigError, match="environment EP_HealthCheckErrorStatusCode"):
        load_config(ini, environ={"EP_HealthCheckErrorStatusCode": "soon"})


def test_an_unsupported_database_is_refused(ini):
    with pytest.raises(ConfigError, match="'mysql' is not supported"):
        load_config(ini, environ={"EP_DATABASE_URL": "mysql://root@localhost/ep"})


def test_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="run `ep init`"):
        load_config(tmp_path / "nowhere" / "ep.ini", environ={})


def test_secrets_are_masked_when_shown(ini):
    config = load_config(
        write(ini, "SmtpPassword = hunter2"),
        environ={"EP_DATABASE_URL": "postgresql+psycopg://ep:s3cret@db/ep"},
    )
    shown = "\n".join(" ".join(row) for row in config.shown())
    assert "hunter2" not in shown and "s3cret" not in shown
    assert "SmtpPassword ********" in shown


def test_header_login_without_a_source_for_the_header_stops_ep_with_one_line(tmp_path):
    """Any client can send X-Personnummer: with nobody named to send it, EP does not start."""
    ini = make_instance(
        tmp_path, "sqlite:///ep.sqlite", CitizenLogin="header", CitizenIdentityProxies=""
    )
    with pytest.raises(ConfigError) as raised:
        load_config(ini, environ={})
    assert str(raised.value).startswith(
        f"{ini}: CitizenLogin = header needs CitizenIdentityProxies"
    )

    result = run_ep("config", "show", config=ini)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "CitizenLogin = header needs CitizenIdentityProxies" in result.stderr

    gunicorn = subprocess.run(
        [Path(sys.executable).with_name("gunicorn"), "-c", "python:ep.gunicorn_conf", "x:y"],
        env={"PATH": os.environ["PATH"], "EP_CONFIG": str(ini)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gunicorn.returncode != 0
    assert gunicorn.stderr.strip().count("\n") == 0
    assert "CitizenLogin = header needs CitizenIdentityProxies" in gunicorn.stderr

    # a demo logs residents in on its own page and needs no such source
    demo = load_config(ini, environ={"EP_CitizenLogin": "dev"})
    assert demo["CitizenIdentityProxies"] == ()


def test_every_built_in_rate_limit_is_one_flask_limiter_reads():
    # load_config takes these without asking the limits library (tests/test_cli.py)
    assert len(BUILT_IN_RATE_LIMITS) >= 8
    for limit in BUILT_IN_RATE_LIMITS:
        assert parse_many(limit), limit
