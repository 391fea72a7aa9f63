"""Fixtures for the batches: a run's own session and a way to run a batch in-process."""

import os
import subprocess

import pytest
from sqlalchemy.orm import Session

from ep.batches.runner import batch_session, run_batch
from ep.extensions import db
from tests.notify.conftest import sms_gateway  # noqa: F401 - the loopback SMS gateway
from tests.support import EP_COMMAND


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

    def run_it(batch, app=batch_app, **kwargs):
        with app.app_context(), batch_session(db.engine) as session:
            return run_batch(batch, session=session, config=app.config["EP"], **kwargs)

    return run_it


@pytest.fixture
def start_ep(config_path):
    """Start the real `ep` command in the background (to kill it); stopped at the end."""
    started = []

    def start(*args, env=None):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
        full_env.update({"EP_CONFIG": str(config_path), **(env or {})})
        process = subprocess.Popen(
            [EP_COMMAND, *args],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.fixture
def read(batch_app):
    """Read rows from the database as the health check would, in a fresh session."""

    def read_it(statement):
        with batch_app.app_context(), Session(db.engine) as session:
            return session.execute(statement).all()

    return read_it
