"""An installation with the demo catalogue, two sampled orders and a lab inbox per test."""

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ep.domain.demo import load_demo
from ep.models import Order, Package

SAMPLES = Path(__file__).parent.parent / "labformats" / "samples"
TOLVAN_ORDER = "EP-7K3M-9QX1"  # DIABETES, in most samples
GRETA_ORDER = "EP-4HB2-R8NB"  # STI-HOME, in the chlamydia samples


@pytest.fixture
def lab_app(make_app, app, tmp_path):
    """The app with an inbox and an ACK folder of this test's own."""
    return make_app(
        LabInboxDirectory=str(tmp_path / "inbox"),
        LabAckDirectory=str(tmp_path / "ack"),
        LabInboxSettleSeconds="5",
    )


@pytest.fixture
def config(lab_app):
    return lab_app.config["EP"]


@pytest.fixture
def inbox(config):
    folder = config.path_of("LabInboxDirectory")
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def ack_folder(config):
    return config.path_of("LabAckDirectory")


@pytest.fixture
def session(lab_app, resident, other_resident, now):
    from ep.extensions import db

    with lab_app.app_context():
        load_demo(db.session, now=now)
        db.session.commit()
        yield db.session
        db.session.rollback()


def _order(session, person, package_code, number, now):
    package = session.scalar(select(Package).where(Package.code == package_code))
    order = Order(
        number=number,
        person_id=person.id,
        package_id=package.id,
        status="sampled",
        ordered_at=now - timedelta(days=3),
        expires_at=now + timedelta(days=27),
        sampled_at=now - timedelta(days=1),
    )
    session.add(order)
    session.commit()
    return order


@pytest.fixture
def tolvan_order(session, resident, now):
    return _order(session, resident, "DIABETES", TOLVAN_ORDER, now)


@pytest.fixture
def greta_order(session, other_resident, now):
    return _order(session, other_resident, "STI-HOME", GRETA_ORDER, now)


@pytest.fixture
def drop(inbox, now):
    """Put a file in the inbox as a lab would: written, then left alone for a while."""

    def drop(name: str, content: bytes | None = None, *, sample: str | None = None) -> Path:
        path = inbox / name
        if sample is not None:
            shutil.copyfile(SAMPLES / sample, path)
        else:
            path.write_bytes(content)
        settled = (now - timedelta(minutes=1)).timestamp()
        os.utime(path, (settled, settled))
        return path

    return drop


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder``, as relative paths, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
