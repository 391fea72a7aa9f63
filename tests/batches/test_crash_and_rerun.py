"""What the operations manual promises for NOTIFYREMINDERS: when a run crashes, is killed
or meets a failing service, running it again takes over where it stopped."""

import signal
import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from ep.batches.notify_reminders import NOTIFYREMINDERS
from ep.models import BatchHeartbeat, Notification
from tests.batches import factories
from tests.support import run_ep

TOKEN = "gateway-secret-token"


def sms_env(gateway, **extra):
    return {
        "EP_NotificationChannel": "sms",
        "EP_SmsGatewayUrl": gateway.url,
        "EP_SmsGatewayToken": TOKEN,
        "EP_ProviderTimeoutSeconds": "5",
        **extra,
    }


def expiring_orders(session, now, count, people=6):
    """Orders expiring tomorrow for residents who want SMS; their reminders' keys."""
    return factories.expiring_orders(
        session, now, count, people=people, channel="sms", mobile="+4670123450{n}"
    )


def test_killed_again_and_again_then_rerun_every_reminder_arrives_and_at_most_one_twice_per_kill(
    db_session, config_path, now, sms_gateway, start_ep
):
    expected = expiring_orders(db_session, now, 60)
    kill_at = (8, 23, 41)  # the gateway has just received this request when the kill comes
    reached = {n: threading.Event() for n in kill_at}
    seen = Counter()
    lock = threading.Lock()

    def on_request(request):
        with lock:
            seen["requests"] += 1
            if seen["requests"] in reached:
                reached[seen["requests"]].set()
                sms_gateway.released.wait(30)  # hold the answer: the kill finds it in flight

    sms_gateway.on_request = on_request
    env = sms_env(sms_gateway, EP_BatchChunkSize="10")

    for n in kill_at:
        process = start_ep("batch", "notify-reminders", env=env)
        assert reached[n].wait(60), process.stderr.read() if process.poll() is not None else ""
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        sms_gateway.released.set()  # let the gateway thread answer into the void
        sms_gateway.released = threading.Event()

    sms_gateway.on_request = None
    rerun = run_ep("batch", "notify-reminders", config=config_path, env=env)

    assert rerun.returncode == 0, rerun.stderr
    assert "stopped without finishing: its process has exited; taken over by run" in rerun.stderr
    delivered = Counter(request.headers["idempotency-key"] for request in sms_gateway.requests)
    assert set(delivered) == expected  # every due reminder arrived
    repeats = sum(times - 1 for times in delivered.values())
    assert repeats <= len(kill_at)  # only a message in flight at a kill went twice
    db_session.rollback()  # a fresh snapshot: see what the command wrote
    assert set(db_session.scalars(select(Notification.status))) == {"sent"}
    assert db_session.get(BatchHeartbeat, "NOTIFYREMINDERS").last_outcome == "succeeded"


def test_a_failing_sms_gateway_fails_the_run_keeps_the_rest_pending_and_a_rerun_sends_it(
    db_session, config_path, now, sms_gateway, make_app, run
):
    expected = expiring_orders(db_session, now, 5, people=5)
    sms_gateway.answers = [(500, {"error": "gateway overloaded"})] * 3
    env = sms_env(sms_gateway, EP_BatchMaxAttempts="3", EP_BatchRetryDelayMilliseconds="0")

    failed = run_ep("batch", "notify-reminders", config=config_path, env=env)

    assert failed.returncode == 1
    assert "NOTIFYREMINDERS run" in failed.stdout and " failed in " in failed.stdout
    assert "TransientDeliveryError: SMS gateway answered 500" in failed.stdout
    assert "rerun with: ep batch notify-reminders" in failed.stdout
    db_session.rollback()  # a fresh snapshot: see what the command wrote
    rows = db_session.scalars(select(Notification)).all()
    assert {row.dedupe_key for row in rows} == expected  # all five queued
    assert {row.status for row in rows} == {"pending"}  # none lost, none failed for good
    assert sum(row.attempts for row in rows) == 3
    heartbeat = db_session.get(BatchHeartbeat, "NOTIFYREMINDERS")
    assert heartbeat.last_outcome == "failed"
    assert heartbeat.last_error_type == "TransientDeliveryError"
    assert "SMS gateway answered 500" in heartbeat.last_error_message
    status = run_ep("batch", "status", config=config_path, env=env)
    line = next(x for x in status.stdout.splitlines() if x.startswith("NOTIFYREMINDERS"))
    assert "ERROR: The latest run failed" in line and "SMS gateway answered 500" in line

    # the gateway is back; the operator reruns once the retry wait has passed
    app = make_app(
        NotificationChannel="sms",
        SmsGatewayUrl=sms_gateway.url,
        SmsGatewayToken=TOKEN,
        BatchRetryDelayMilliseconds="0",
    )
    rerun = run(NOTIFYREMINDERS, app=app, clock=lambda: now + timedelta(hours=1))

    assert rerun.status == "succeeded" and rerun.exit_code == 0
    delivered = [
        r.headers["idempotency-key"] for r in sms_gateway.requests[3:]
    ]  # after the three 500s
    assert sorted(delivered) == sorted(expected)
    db_session.rollback()  # a fresh snapshot: see what the command wrote
    assert set(db_session.scalars(select(Notification.status))) == {"sent"}
    assert db_session.get(BatchHeartbeat, "NOTIFYREMINDERS").last_outcome == "succeeded"


def test_a_rerun_right_after_a_failing_gateway_retries_at_once_and_sends_the_rest(
    db_session, now, make_app, run, read, sms_gateway
):
    expected = expiring_orders(db_session, now, 5, people=5)
    sms_gateway.answers = [(500, {"error": "gateway overloaded"})] * 2
    app = make_app(
        NotificationChannel="sms",
        SmsGatewayUrl=sms_gateway.url,
        SmsGatewayToken=TOKEN,
        BatchRetryDelayMilliseconds="0",
        BatchMaxAttempts="2",
    )

    failed = run(NOTIFYREMINDERS, app=app, clock=lambda: now)

    assert failed.status == "failed" and failed.exit_code == 1
    # the two messages that met the error wait out their backoff while that run lasts
    waits = [at for (at,) in read(select(Notification.next_attempt_at)) if at > now]
    assert len(waits) == 2

    # the operator runs it again at once (the same moment): nothing waits for the backoff
    rerun = run(NOTIFYREMINDERS, app=app, clock=lambda: now)

    assert rerun.status == "succeeded" and rerun.exit_code == 0
    delivered = [r.headers["idempotency-key"] for r in sms_gateway.requests[2:]]
    assert sorted(delivered) == sorted(expected)  # each of the five, once
    assert {row[0] for row in read(select(Notification.status))} == {"sent"}
