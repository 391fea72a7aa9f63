"""Fixtures for the notification tests: configurations and residents to notify."""

import pytest

from ep.config import load_config
from ep.models import Person


@pytest.fixture
def outbox(tmp_path):
    """The file channel's folder (NotificationDirectory)."""
    return tmp_path / "notifications"


@pytest.fixture
def notify_config(config_path, outbox):
    """Return the test instance's configuration with appSettings overrides."""

    def make(**overrides):
        overrides.setdefault("NotificationDirectory", str(outbox))
        return load_config(config_path, environ={}, overrides=overrides)

    return make


@pytest.fixture
def make_person(db_session, now):
    """Add and commit a resident; a fresh personnummer each time."""
    made = []

    def make(**values):
        number = f"19{len(made) + 10:02d}01010000"[:12]
        person = Person(personnummer=values.pop("personnummer", number), created_at=now, **values)
        db_session.add(person)
        db_session.commit()
        made.append(person)
        return person

    return make
