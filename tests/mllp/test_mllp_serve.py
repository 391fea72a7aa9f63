"""`ep mllp serve` as a real subprocess, fed by the `hl7` package's MLLP client and its
`mllp_send` command."""

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from hl7.client import MLLPClient
from sqlalchemy import select

from ep.domain.demo import load_demo
from ep.models import LabMessage, MllpListener, Order
from tests.api.conftest import TOLVAN_ORDER, make_order
from tests.lab_import.conftest import SAMPLES
from tests.support import EP_COMMAND

MLLP_SEND = str(Path(sys.executable).with_name("mllp_send"))
HL7 = (
    "MSH|^~\\&|LIMS|KLINKEM|EP|REGION|20261126143005+0100||ORU^R01|{control_id}|P|2.5.1\r"
    "PID|1||191212121212^^^SE-PNR^PN||Tolvansson^Tolvan\r"
    "OBR|1|{order}|LAB-1|DIAB^Diabeteskontroll^L|||20261126081500+0100\r"
    "OBX|1|NM|NPU27300^B-HbA1c^NPU||48|mmol/mol|27-42|H|||F\r"
    "OBX|2|NM|NPU02192^P-Glukos^NPU||5,4|mmol/L|4,0-6,0|N|||F\r"
)


class Listener:
    def __init__(self, config_path: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
        env["EP_CONFIG"] = str(config_path)
        self.process = subprocess.Popen(
            [EP_COMMAND, "mllp", "serve", "--host", "127.0.0.1", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None  # piped
        first = self.process.stdout.readline()  # blocks until it listens, or it exited
        assert first.startswith("listening for MLLP on 127.0.0.1:"), (
            first + self.process.stderr.read()
        )
        self.port = int(first.strip().rsplit(":", 1)[1])

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err


@pytest.fixture
def sampled(app, db_session, resident, now):
    load_demo(db_session, now=now - timedelta(minutes=5))
    db_session.commit()
    return make_order(db_session, resident, "DIABETES", TOLVAN_ORDER, now, status="sampled")


@pytest.fixture
def listener(config_path, app):
    running = Listener(config_path)
    yield running
    if running.process.poll() is None:
        running.stop()


def _send(port: int, message: str) -> str:
    with MLLPClient("127.0.0.1", port) as client:
        return client.send_message(message).decode()


def test_a_result_over_mllp_is_stored_before_its_aa(listener, sampled, db_session):
    ack = _send(listener.port, HL7.format(control_id="MLLP-1", order=TOLVAN_ORDER))

    assert ack.startswith("\x0bMSH|^~\\&|EP|REGION|LIMS|KLINKEM|")
    assert "MSA|AA|MLLP-1|imported" in ack
    assert ack.endswith("\x1c\r")
    db_session.rollback()  # what the listener committed before it answered
    [message] = db_session.scalars(select(LabMessage)).all()
    assert (message.status, message.control_id, message.filename) == (
        "imported",
        "MLLP-1",
        "mllp:127.0.0.1",
    )
    assert db_session.get(Order, sampled.id).status == "resulted"


def test_the_mllp_send_command_gets_its_ack(listener, sampled, db_session):
    sent = subprocess.run(
        [MLLP_SEND, "--loose", "-f", str(SAMPLES / "oru_r01_two_groups_utf8.hl7")]
        + ["--port", str(listener.port), "127.0.0.1"],
        capture_output=True,
        timeout=30,
    )

    assert sent.returncode == 0, sent.stderr
    assert b"MSA|AA|KK20261126-000123|imported" in sent.stdout


def test_a_repeat_is_a_duplicate_and_an_unreadable_frame_gets_ar(listener, sampled, db_session):
    message = HL7.format(control_id="MLLP-2", order=TOLVAN_ORDER)
    assert "MSA|AA|MLLP-2|imported" in _send(listener.port, message)
    assert "MSA|AA|MLLP-2|duplicate" in _send(listener.port, message)
    assert "MSA|AR||not a lab message" in _send(listener.port, "garbage")
    db_session.rollback()
    statuses = db_session.scalars(select(LabMessage.status).order_by(LabMessage.id)).all()
    assert statuses == ["imported", "duplicate", "rejected"]


def test_many_connections_are_served_at_once(listener, sampled, db_session):
    acks: dict[tuple[int, int], str] = {}

    def send(number: int) -> None:
        with MLLPClient("127.0.0.1", listener.port) as client:
            # each connection carries three messages, interleaved with the others'
            for part in range(3):
                control_id = f"MANY-{number}-{part}"
                reply = client.send_message(HL7.format(control_id=control_id, order="EP-0000-0000"))
                acks[(number, part)] = reply.decode()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(acks) == 24
    assert all("MSA|AE|MANY-" in ack for ack in acks.values())  # no such order: kept
    db_session.rollback()
    assert len(db_session.scalars(select(LabMessage)).all()) == 24


def test_sigterm_stops_it_cleanly_and_the_health_check_row_says_so(listener, sampled, db_session):
    _send(listener.port, HL7.format(control_id="MLLP-3", order=TOLVAN_ORDER))
    idle = MLLPClient("127.0.0.1", listener.port)  # a connection left open by a lab
    try:
        db_session.rollback()
        row = db_session.scalars(select(MllpListener)).one()
        assert row.listening_since is not None and row.stopped_at is None
        assert (row.messages, row.address) == (1, f"127.0.0.1:{listener.port}")
        assert row.last_message_at is not None

        code, out, err = listener.stop()
    finally:
        idle.close()

    assert code == 0, err
    assert f"stopped listening on 127.0.0.1:{listener.port}" in out
    db_session.rollback()
    row = db_session.scalars(select(MllpListener)).one()
    assert row.listening_since is None and row.stopped_at is not None


def test_one_message_sent_on_two_connections_at_once_is_imported_once(
    listener, sampled, db_session
):
    message = HL7.format(control_id="MLLP-TWICE", order=TOLVAN_ORDER)
    acks: list[str] = []
    threads = [
        threading.Thread(target=lambda: acks.append(_send(listener.port, message)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(acks) == 4 and all("MSA|AA|MLLP-TWICE|" in ack for ack in acks)
    db_session.rollback()
    statuses = sorted(db_session.scalars(select(LabMessage.status)).all())
    assert statuses == ["duplicate", "duplicate", "duplicate", "imported"]
