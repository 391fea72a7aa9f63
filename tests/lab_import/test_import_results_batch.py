"""The IMPORTRESULTS batch: the real `ep batch import-results`, and runs in-process."""

import multiprocessing
import os

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ep.batches import import_results
from ep.batches.import_results import IMPORTRESULTS, READ_AHEAD_MIN_FILES
from ep.batches.runner import run_batch
from ep.domain.lab_import import read_files, receive_files
from ep.extensions import db
from ep.models import BatchHeartbeat, LabMessage, Result
from tests.lab_import.conftest import SAMPLES, files_under
from tests.support import run_ep


def _settings(config):
    return {
        "EP_LabInboxDirectory": str(config.path_of("LabInboxDirectory")),
        "EP_LabAckDirectory": str(config.path_of("LabAckDirectory")),
    }


def test_ep_batch_import_results_imports_the_inbox_and_quarantines_the_bad_files(
    session, config, config_path, inbox, ack_folder, drop, tolvan_order, greta_order
):
    drop("kk-000123.hl7", sample="oru_r01_two_groups_utf8.hl7")
    drop("mik-4711.hl7", sample="oru_r01_chlamydia_cwe.hl7")
    drop("resent.hl7", sample="oru_r01_two_groups_utf8.hl7")
    drop("broken.hl7", b"MSH|^~\\&|LIMS|KLINKEM_SUS|EP|REGION|20261126||ORU^R01|X1|P|2.5.1\r")
    drop("zero.json", b"")

    dry = run_ep("batch", "import-results", "--dry-run", config=config_path, env=_settings(config))
    assert dry.returncode == 0, dry.stderr
    assert f"would import 5 files from {inbox}" in dry.stdout
    assert "IMPORTRESULTS: dry run, nothing was changed" in dry.stdout
    assert len(files_under(inbox)) == 5

    done = run_ep("batch", "import-results", config=config_path, env=_settings(config))

    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    assert "5 items (2 succeeded, 2 failed, 1 skipped)" in done.stdout
    assert files_under(inbox) == [
        "error/broken.hl7",
        "error/broken.hl7.reason.txt",
        "error/zero.json",
        "error/zero.json.reason.txt",
        "processed/kk-000123.hl7",
        "processed/mik-4711.hl7",
        "processed/resent.hl7",
    ]
    assert sorted(p.name for p in ack_folder.iterdir()) == [
        "KK20261126-000123.ack.hl7",
        "KK20261126-000123~2.ack.hl7",
        "MIK-20261126-4711.ack.hl7",
        "X1.ack.hl7",
    ]
    session.expire_all()
    statuses = dict(session.execute(select(LabMessage.filename, LabMessage.status)).all())
    assert statuses == {
        "kk-000123.hl7": "imported",
        "mik-4711.hl7": "imported",
        "resent.hl7": "duplicate",
        "broken.hl7": "rejected",
        "zero.json": "rejected",
    }
    assert session.get(type(greta_order), greta_order.id).status == "resulted"
    heartbeat = session.scalars(select(BatchHeartbeat)).one()
    assert (heartbeat.batch, heartbeat.last_outcome) == ("IMPORTRESULTS", "succeeded")

    rerun = run_ep("batch", "import-results", config=config_path, env=_settings(config))
    assert rerun.returncode == 0, rerun.stderr
    assert "0 items" in rerun.stdout


def _run(lab_app, **kwargs):
    with lab_app.app_context(), Session(db.engine) as run_session:
        return run_batch(IMPORTRESULTS, session=run_session, config=lab_app.config["EP"], **kwargs)


def test_a_rerun_after_a_crash_between_commit_and_move_imports_nothing_twice(
    session, lab_app, config, inbox, drop, tolvan_order, now
):
    first = drop("kk-000123.hl7", sample="oru_r01_two_groups_utf8.hl7")
    drop("kk-000124.hl7", sample="oru_r01_bom_lf.hl7")
    # the process died after committing the first file, before moving it
    receive_files(session, [first], max_bytes=config["LabMaxFileBytes"], now=now)
    session.commit()

    outcome = _run(lab_app)

    assert (outcome.status, outcome.succeeded, outcome.skipped) == ("succeeded", 1, 1)
    assert files_under(inbox) == ["processed/kk-000123.hl7", "processed/kk-000124.hl7"]
    assert session.scalar(select(func.count()).select_from(Result)) == 5
    statuses = session.scalars(select(LabMessage.status).order_by(LabMessage.id)).all()
    assert statuses == ["imported", "duplicate", "imported"]


def test_limit_imports_at_most_n_files_and_leaves_the_rest_for_the_next_run(
    session, lab_app, inbox, drop, tolvan_order
):
    sample = (SAMPLES / "oru_r01_bom_lf.hl7").read_bytes()
    for number in range(5):
        drop(f"inr-{number}.hl7", sample.replace(b"000124", f"00090{number}".encode()))

    outcome = _run(lab_app, limit=2)

    assert outcome.succeeded == 2
    assert len(list((inbox / "processed").iterdir())) == 2
    assert _run(lab_app).succeeded == 3
    assert sorted(p.name for p in inbox.iterdir()) == ["processed"]


def _many(drop, count: int, *, duplicate: tuple[int, int] | None = None) -> None:
    """``count`` settled ORU^R01 files for Tolvan's order, each with its own control id."""
    sample = (SAMPLES / "oru_r01_bom_lf.hl7").read_bytes()
    for number in range(count):
        same = duplicate is not None and number == duplicate[1]
        control = duplicate[0] if duplicate is not None and same else number
        drop(f"inr-{number:04d}.hl7", sample.replace(b"000124", f"{control:06d}".encode()))


def test_a_big_inbox_read_ahead_by_reader_processes_is_imported_file_by_file_in_order(
    session, config, config_path, inbox, ack_folder, drop, tolvan_order
):
    count = 2 * READ_AHEAD_MIN_FILES + 30  # several chunks read ahead
    _many(drop, count, duplicate=(5, count - 10))  # a resend, chunks after the original
    drop("inr-0150-broken.hl7", b"MSH|^~\\&|LIMS|KLINKEM_SUS|EP|REGION|20261126||ORU^R01|B1|P\r")

    done = run_ep("batch", "import-results", config=config_path, env=_settings(config))

    assert done.returncode == 0, done.stderr
    assert f"{count + 1} items ({count - 1} succeeded, 1 failed, 1 skipped)" in done.stdout
    assert sorted(p.name for p in inbox.iterdir()) == ["error", "processed"]
    assert len(list((inbox / "processed").iterdir())) == count
    assert len(list(ack_folder.iterdir())) == count + 1
    session.expire_all()
    messages = session.execute(select(LabMessage.filename, LabMessage.status)).all()
    assert len(messages) == count + 1  # each file recorded once
    statuses = dict(messages)
    assert statuses[f"inr-{count - 10:04d}.hl7"] == "duplicate"
    assert statuses["inr-0150-broken.hl7"] == "rejected"
    assert list(statuses.values()).count("imported") == count - 1
    assert session.scalar(select(func.count()).select_from(Result)) == count - 1
    current = select(func.count()).select_from(Result).where(Result.superseded_at.is_(None))
    assert session.scalar(current) == 1  # the INR of each file superseded the one before


def test_when_a_reader_process_dies_its_chunks_are_read_by_the_batch_itself(
    session, lab_app, inbox, drop, tolvan_order, monkeypatch
):
    batch_pid = os.getpid()

    def read_or_die(paths, *, max_bytes):
        if os.getpid() != batch_pid:
            os._exit(1)  # a reader killed mid-chunk
        return read_files(paths, max_bytes=max_bytes)

    monkeypatch.setattr(import_results, "read_files", read_or_die)
    count = READ_AHEAD_MIN_FILES + 50
    _many(drop, count)

    outcome = _run(lab_app)

    assert (outcome.status, outcome.succeeded) == ("succeeded", count)
    assert sorted(p.name for p in inbox.iterdir()) == ["processed"]
    assert session.scalar(select(func.count()).select_from(LabMessage)) == count
    assert multiprocessing.active_children() == []  # no reader left behind
