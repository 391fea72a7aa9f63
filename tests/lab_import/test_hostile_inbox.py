"""What a lab (or anyone with write access) may leave in the inbox, and what EP does with it.

Every entry is imported or moved aside with a reason file; what EP will not touch is
reported once; one odd name never keeps the files beside it from being imported.
"""

import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ep.batches import import_results
from ep.batches.import_results import IMPORTRESULTS
from ep.batches.runner import run_batch
from ep.domain import lab_import
from ep.extensions import db
from ep.healthcheck.checks import evaluate
from ep.models import LabMessage, Result
from tests.lab_import.conftest import SAMPLES, files_under
from tests.support import run_ep

SAMPLE = "oru_r01_bom_lf.hl7"  # Tolvan's INR; control id KK20261126-000124


def _settings(config):
    return {
        "EP_LabInboxDirectory": str(config.path_of("LabInboxDirectory")),
        "EP_LabAckDirectory": str(config.path_of("LabAckDirectory")),
    }


def _run(lab_app, now):
    with lab_app.app_context(), Session(db.engine) as run_session:
        return run_batch(
            IMPORTRESULTS, session=run_session, config=lab_app.config["EP"], clock=lambda: now
        )


def _message(number: int) -> bytes:
    """The sample INR message with a control id of its own."""
    return (SAMPLES / SAMPLE).read_bytes().replace(b"000124", f"{number:06d}".encode())


def _settle(path: bytes | str | Path, now) -> None:
    settled = (now - timedelta(minutes=1)).timestamp()
    os.utime(path, (settled, settled), follow_symlinks=False)


def _write(folder: Path, name: bytes | str, data: bytes, now) -> bytes:
    path = os.path.join(os.fsencode(folder), os.fsencode(name))
    with open(path, "wb") as stream:
        stream.write(data)
    _settle(path, now)
    return path


def _statuses(session) -> dict[str, str]:
    session.rollback()  # see what the runs committed
    return dict(session.execute(select(LabMessage.filename, LabMessage.status)).all())


def test_a_name_that_is_not_utf8_is_imported_under_a_safe_name_and_the_files_beside_it_too(
    session, config, config_path, inbox, drop, tolvan_order, now
):
    _write(inbox, "svar_åäö.hl7".encode("latin-1"), _message(1), now)
    drop("inr-2.hl7", _message(2))

    done = run_ep("batch", "import-results", config=config_path, env=_settings(config))

    assert done.returncode == 0, done.stderr
    assert "2 items (2 succeeded, 0 failed, 0 skipped)" in done.stdout
    assert files_under(inbox) == [
        "processed/inr-2.hl7",
        "processed/svar____.hl7",
        "processed/svar____.hl7.reason.txt",
    ]
    reason = (inbox / "processed" / "svar____.hl7.reason.txt").read_text()
    assert "the name is not UTF-8; its bytes: b'svar_\\xe5\\xe4\\xf6.hl7'" in reason
    assert "status: imported" in reason
    assert _statuses(session) == {"svar____.hl7": "imported", "inr-2.hl7": "imported"}


@pytest.mark.parametrize("reserved", ["processed", "error"])
def test_a_file_named_like_an_inbox_folder_is_imported_and_the_runs_go_on(
    session, lab_app, inbox, drop, tolvan_order, now, reserved
):
    drop(reserved, _message(1))
    drop("inr-2.hl7", _message(2))

    outcome = _run(lab_app, now)

    assert (outcome.status, outcome.succeeded) == ("succeeded", 2)
    renamed = f"{reserved}~reserved-name"
    assert files_under(inbox) == sorted(
        ["processed/inr-2.hl7", f"processed/{renamed}", f"processed/{renamed}.reason.txt"]
    )
    reason = (inbox / "processed" / f"{renamed}.reason.txt").read_text()
    assert f"the file was named '{reserved}', the name of a folder EP keeps" in reason
    drop("inr-3.hl7", _message(3))
    assert _run(lab_app, now).succeeded == 1


def test_a_long_name_already_in_processed_is_kept_under_a_safe_name_with_a_reason(
    session, lab_app, inbox, drop, tolvan_order, now
):
    name = "r" * 250 + ".hl7"  # 254 bytes: ~2 would make it too long for the file system
    drop(name, _message(1))
    assert _run(lab_app, now).succeeded == 1
    drop(name, _message(2))

    outcome = _run(lab_app, now)

    assert (outcome.status, outcome.succeeded) == ("succeeded", 1)
    kept = sorted(os.listdir(inbox / "processed"))
    assert len(kept) == 4  # two messages, each with its reason file
    assert all(len(os.fsencode(k)) <= 255 for k in kept)
    reasons = [(inbox / "processed" / k).read_text() for k in kept if k.endswith(".reason.txt")]
    assert all(f"its bytes: b'{'r' * 250}.hl7'" in reason for reason in reasons)
    assert any("was in processed/ already; this one is kept as" in r for r in reasons)
    assert session.scalar(select(func.count()).select_from(Result)) == 2


def test_a_rejected_long_name_gets_its_reason_file(session, lab_app, inbox, drop, now):
    name = "x" * 246 + ".hl7"
    drop(name, b"MSH|^~\\&|LIMS|KLINKEM_SUS|EP|REGION|20261126||ORU^R01|X1|P|2.5.1\r")

    assert _run(lab_app, now).failed == 1

    [kept, reason] = sorted(os.listdir(inbox / "error"))
    assert reason == kept + ".reason.txt"
    text = (inbox / "error" / reason).read_text()
    assert text.startswith("no OBR segment")
    assert f"the name is 250 bytes long, longer than EP keeps (200); its bytes: b'{name}'" in text


def test_a_file_the_lab_writes_on_while_ep_reads_it_is_left_for_the_next_run_unacknowledged(
    session, lab_app, inbox, ack_folder, tolvan_order, now, monkeypatch
):
    whole = (SAMPLES / "oru_r01_two_groups_utf8.hl7").read_bytes()
    half = whole[: whole.index(b"OBR|2")]  # the first group only: still a readable message
    path = _write(inbox, "inr.hl7", half, now)  # the lab stalled past the settle time
    parse = lab_import.parse_lab_message

    def lab_writes_on(data):
        with open(path, "ab") as stream:  # the lab goes on while EP reads
            stream.write(whole[len(half) :])
        return parse(data)

    monkeypatch.setattr(lab_import, "parse_lab_message", lab_writes_on)
    outcome = _run(lab_app, now)

    assert (outcome.succeeded, outcome.skipped) == (0, 1)
    assert files_under(inbox) == ["inr.hl7"]
    assert (inbox / "inr.hl7").read_bytes() == whole
    assert not ack_folder.exists() or not any(ack_folder.iterdir())
    assert _statuses(session) == {}

    monkeypatch.setattr(lab_import, "parse_lab_message", parse)
    assert _run(lab_app, now).succeeded == 0  # just written: not settled yet
    later = now + timedelta(minutes=10)
    assert _run(lab_app, later).succeeded == 1
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Result)) == 4


def test_symlinks_fifos_folders_and_dot_files_stay_and_are_reported_once(
    session, lab_app, config, inbox, drop, tolvan_order, now, tmp_path
):
    outside = tmp_path / "elsewhere.hl7"
    outside.write_bytes(_message(9))
    (inbox / "link.hl7").symlink_to(outside)
    os.mkfifo(inbox / "pipe.hl7")
    (inbox / "a-folder").mkdir()
    drop(".hidden.hl7", _message(8))
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(inbox / "socket"))
    for name in ("link.hl7", "pipe.hl7", "a-folder", "socket"):
        _settle(inbox / name, now)
    drop("inr.hl7", _message(1))

    first = _run(lab_app, now)
    second = _run(lab_app, now + timedelta(minutes=5))
    listening.close()

    assert (first.status, first.succeeded, second.status) == ("succeeded", 1, "succeeded")
    assert sorted(os.listdir(inbox)) == [
        ".hidden.hl7",
        "a-folder",
        "link.hl7",
        "pipe.hl7",
        "processed",
        "socket",
    ]
    assert outside.read_bytes() == _message(9)
    quarantined = session.scalars(
        select(LabMessage.error).where(LabMessage.source == "inbox").order_by(LabMessage.filename)
    ).all()
    assert [q.split(":")[0] for q in quarantined] == [
        "a dot-named file in the lab inbox",
        "a folder in the lab inbox",
        "a symbolic link in the lab inbox",
        "a FIFO in the lab inbox",
        "a special file in the lab inbox",
    ]
    report = evaluate(session, config, now=now, detail=True)
    [lab_inbox] = [check for check in report.checks if check.component == "labInbox"]
    assert "5 lab message(s) are quarantined" in lab_inbox.message


def test_a_file_too_large_is_refused_with_a_reason_and_the_rest_imported(
    session, lab_app, config, inbox, drop, tolvan_order, now, monkeypatch
):
    monkeypatch.setitem(config.values, "LabMaxFileBytes", 2000)
    drop("huge.hl7", _message(1) + b"NTE|1||x\r" * 1000)
    drop("inr.hl7", _message(2))

    outcome = _run(lab_app, now)

    assert (outcome.succeeded, outcome.failed) == (1, 1)
    reason = (inbox / "error" / "huge.hl7.reason.txt").read_text()
    assert "too large for a lab message (at most 2,000, LabMaxFileBytes)" in reason
    assert (inbox / "error" / "huge.hl7").stat().st_size > 9000


def test_a_file_that_cannot_be_moved_does_not_stop_the_files_beside_it(
    session, lab_app, inbox, drop, tolvan_order, now, monkeypatch
):
    drop("stuck.hl7", _message(1))
    drop("inr-2.hl7", _message(2))
    file_away = import_results.file_away

    def refuse_one(item, config, *, now):
        if item.name == "stuck.hl7":
            raise PermissionError(13, "Permission denied")
        return file_away(item, config, now=now)

    monkeypatch.setattr(import_results, "file_away", refuse_one)
    outcome = _run(lab_app, now)

    assert (outcome.status, outcome.succeeded, outcome.failed) == ("succeeded", 1, 1)
    assert files_under(inbox) == ["processed/inr-2.hl7", "stuck.hl7"]


def test_processed_linked_to_a_folder_elsewhere_is_used_and_not_reported(
    session, lab_app, inbox, drop, tolvan_order, now, tmp_path
):
    elsewhere = tmp_path / "archive"
    elsewhere.mkdir()
    (inbox / "processed").symlink_to(elsewhere)
    drop("inr.hl7", _message(1))

    assert _run(lab_app, now).succeeded == 1

    assert [p.name for p in elsewhere.iterdir()] == ["inr.hl7"]
    assert _statuses(session) == {"inr.hl7": "imported"}
