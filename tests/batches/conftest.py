"""Fixtures for the batches: a run's own session and a way to run a batch in-process."""

import pytest
from sqlalchemy.orm import Session

from ep.batches.runner import run_batch
from ep.extensions import db


@pytest.fixture
def outbox(tmp_path):
    """The file channel's folder for this test."""
    return tmp_path / "notifications"


@pytest.fixture
def batch_app(make_app, app, outbox):
    """An app whose batches retry at once and commit in chunks of 3 (small, fast tests)."""
    return make_app(
        BatchRetryDelayMilliseconds="0",
        BatchChunkSize="3",
        BatchMaxAttempts="3",
        NotificationChannel="file",
        NotificationDirectory=str(outbox),
    )


@pytest.fixture
def run(batch_app):
    """Run a batch in-process on its own session, as `ep batch` does."""

    def run_it(batch, **kwargs):
        with batch_app.app_context(), Session(db.engine) as session:
            return run_batch(batch, session=session, config=batch_app.config["EP"], **kwargs)

    return run_it


@pytest.fixture
def read(batch_app):
    """Read rows from the database as the health check would, in a fresh session."""

    def read_it(statement):
        with batch_app.app_context(), Session(db.engine) as session:
            return session.execute(statement).all()

    return read_it
