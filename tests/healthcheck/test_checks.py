"""The checks as pure evaluation: a heartbeat row, the thresholds and the clock."""

import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ep.healthcheck.checks import (
    FAIL,
    PASS,
    WARN,
    CheckResult,
    Report,
    batch_command,
    check_batch,
    check_crl,
    check_expiry,
    check_lab_inbox,
    check_outbox,
)
from ep.healthcheck.formats import health_json, nagios, prometheus
from ep.identity.certificates import make_ca, make_crl
from ep.models import BatchHeartbeat


@pytest.mark.parametrize(
    "batch, command",
    [
        ("NOTIFYREMINDERS", "ep batch notify-reminders"),
        ("IMPORTRESULTS", "ep batch import-results"),
        ("NOTIFYRESULTS", "ep batch notify-results"),
        ("EXPIREORDERS", "ep batch expire-orders"),
        ("PURGE", "ep batch purge"),
        ("BACKUP", "ep batch backup"),
    ],
)
def test_each_batch_has_its_rerun_command(batch, command):
    assert batch_command(batch) == command


def heartbeat(now, minutes_ago, **values):
    return BatchHeartbeat(
        batch="NOTIFYREMINDERS", last_activity_at=now - timedelta(minutes=minutes_ago), **values
    )


def check(hb, now, installed_minutes_ago=10_000, host=None):
    return check_batch(
        "NOTIFYREMINDERS",
        hb,
        warn_after_minutes=1500,
        lease_seconds=300,
        installed_at=now - timedelta(minutes=installed_minutes_ago),
        now=now,
        host=host,
    )


def test_a_batch_active_within_its_limit_passes(now):
    result = check(heartbeat(now, 1499, last_outcome="succeeded"), now)
    assert result.status == PASS
    assert result.observed_value == 1499


def test_a_batch_inactive_beyond_its_limit_fails_with_the_manuals_words(now):
    result = check(heartbeat(now, 1501, last_outcome="succeeded"), now)
    assert result.status == FAIL
    assert result.message.startswith(
        "Configured to warn after 1500 minutes inactivity. Time is NOT within warning limits "
        "defined in ep.ini. Check task scheduler to see if batch is running. Last activity: "
    )


def running(now, minutes_ago, **values):
    return heartbeat(
        now,
        minutes_ago,
        running_run_id=42,
        running_host="batch01",
        running_pid=777,
        running_since=now - timedelta(minutes=minutes_ago + 1),
        **values,
    )


def test_a_running_batch_silent_longer_than_the_lease_stopped_without_finishing(now):
    # 6 minutes: far inside the daily threshold, but past the 300 s lease
    result = check(running(now, 6), now)
    assert result.status == FAIL
    assert result.message.startswith(
        "NOTIFYREMINDERS run 42 on batch01 (pid 777) stopped without finishing: no heartbeat "
        "for longer than BatchLeaseSeconds (300 s); last heartbeat "
    )
    assert result.message.endswith("Run it again: ep batch notify-reminders")


def test_a_running_batch_inside_its_lease_is_running(now):
    result = check(running(now, 4), now)
    assert result.status == PASS and result.message.endswith("running now.")


def test_a_run_on_this_host_whose_process_is_gone_stopped_at_once(now):
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    hb = running(now, 0)
    hb.running_pid = int(exited.stdout)
    result = check(hb, now, host="batch01")
    assert result.status == FAIL
    assert "stopped without finishing: its process no longer exists" in result.message
    # another host's pid says nothing here: only the lease counts there
    assert check(hb, now, host="batch02").status == PASS


def test_after_a_failure_a_run_in_progress_keeps_it_red_until_one_succeeds(now):
    hb = heartbeat(now, 1, running_run_id=43, last_outcome="failed", last_error_type="X")
    result = check(hb, now)
    assert result.status == FAIL
    assert "Run 43 is running now. ERROR until a run succeeds." in result.message
    hb.running_run_id, hb.last_outcome = None, "succeeded"
    assert check(hb, now).status == PASS


def test_a_failed_latest_run_fails_with_its_error_and_rerun_command(now):
    hb = heartbeat(
        now,
        3,
        last_outcome="failed",
        last_failure_at=now - timedelta(minutes=3),
        last_error_type="TransientDeliveryError",
        last_error_message="SMS gateway answered 503",
    )
    result = check(hb, now)
    assert result.status == FAIL
    assert "TransientDeliveryError: SMS gateway answered 503" in result.message
    assert result.command == "ep batch notify-reminders"


def test_a_batch_that_never_ran_is_measured_from_the_installation(now):
    assert check(None, now, installed_minutes_ago=1499).status == PASS
    late = check(None, now, installed_minutes_ago=1501)
    assert late.status == FAIL
    assert "Last activity: never" in late.message


def test_outbox_failures_and_quarantined_lab_messages_warn(now):
    assert check_outbox(0).status == PASS
    assert check_outbox(3).status == WARN
    assert check_lab_inbox(0).status == PASS
    assert "2 lab message(s) are quarantined" in check_lab_inbox(2).message


def test_a_certificate_near_expiry_warns_and_keeps_ok_but_an_expired_one_fails(now, tmp_path):
    path = tmp_path / "ca.pem"
    path.write_bytes(make_ca("Short CA", now=now, days=10).cert_pem)
    soon = check_expiry("trustedCa", path, warn_days=30, now=now)
    assert soon.status == WARN
    assert Report([soon]).ok
    expired = check_expiry("trustedCa", path, warn_days=30, now=now + timedelta(days=11))
    assert expired.status == FAIL
    assert not Report([expired]).ok
    assert check_expiry("trustedCa", path, warn_days=5, now=now).status == PASS


def test_the_crl_warns_days_before_its_next_update_and_fails_past_it(now, tmp_path):
    path = tmp_path / "crl.pem"
    path.write_bytes(
        make_crl(make_ca("CRL CA", now=now), [], now=now, days=3).public_bytes(Encoding.PEM)
    )
    assert check_crl("crl", path, warn_days=2, now=now).status == PASS
    soon = check_crl("crl", path, warn_days=2, now=now + timedelta(days=1, hours=12))
    assert soon.status == WARN and Report([soon]).ok
    assert "after that every certificate of its CA is refused" in soon.message
    expired = check_crl("crl", path, warn_days=2, now=now + timedelta(days=3, minutes=1))
    assert expired.status == FAIL and not Report([expired]).ok
    assert "every certificate of its CA is refused" in expired.message
    assert check_crl("crl", None, warn_days=2, now=now) is None


def test_the_formats_say_the_same_thing(now):
    report = Report(
        [
            CheckResult(
                "database", "responseTime", PASS, "fine", observed_value=1.5, observed_unit="ms"
            ),
            check(heartbeat(now, 2000, last_outcome="succeeded"), now),
        ]
    )
    body = health_json(report, now=now)
    assert body["status"] == "fail"
    assert body["checks"]["NOTIFYREMINDERS:inactivity"][0]["status"] == "fail"
    assert body["checks"]["NOTIFYREMINDERS:inactivity"][0]["output"].startswith("Configured")
    # the IETF draft: no output on a passing check, only the component types it defines
    assert "output" not in body["checks"]["database:responseTime"][0]
    types = {entry["componentType"] for group in body["checks"].values() for entry in group}
    assert types <= {"component", "datastore", "system"}
    line, code = nagios(report)
    assert code == 2 and line.startswith("EP CRITICAL - NOTIFYREMINDERS: Configured")
    assert "'NOTIFYREMINDERS_inactivity'=2000.0;1500;1500" in line
    text = prometheus(report)
    assert "ep_health_ok 0" in text
    assert 'ep_check_status{component="NOTIFYREMINDERS",measurement="inactivity"} 2' in text
