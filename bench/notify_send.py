"""Benchmark the notification outbox alone: queue_notification and send_next (file channel).

    .venv/bin/python bench/notify_send.py [--count 20000] [--database URL] [--bulk]

Without --database a fresh SQLite file in a temporary folder is used; with a PostgreSQL
URL the database's public schema is DROPPED and rebuilt, so name a scratch database.
Prints notifications/s for queueing (committed every BatchChunkSize; one
queue_notification call each, or with --bulk one queue_notifications call per chunk) and for sending
(one claim and one outcome commit per message, one file each), and the peak RSS.
NOTIFYREMINDERS end to end is measured by bench/notify_reminders*.
"""

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from ep import create_app  # noqa: E402
from ep.config import load_config  # noqa: E402
from ep.domain.notifications import (  # noqa: E402
    NotificationRequest,
    queue_notification,
    queue_notifications,
    send_next,
)
from ep.extensions import db  # noqa: E402
from ep.models import Person  # noqa: E402
from ep.timeutil import utcnow  # noqa: E402
from tests.support import make_instance, reset_schema  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--database", default=None)
    parser.add_argument("--bulk", action="store_true", help="queue_notifications per chunk")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ep-bench-notify-"))
    try:
        run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(args, folder: Path) -> None:
    url = args.database or f"sqlite:///{folder / 'ep.sqlite'}"
    reset_schema(url)
    config = load_config(make_instance(folder, url), environ={})
    app = create_app(config)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        engine = db.engine
    now = utcnow()
    chunk = config["BatchChunkSize"]

    with Session(engine) as session:
        people = [
            Person(personnummer=f"{n:012d}", mobile="+46701234567", channel="sms")
            for n in range(1000)
        ]
        session.add_all(people)
        session.commit()
        started = time.perf_counter()
        for first in range(0, args.count, chunk):
            # as NOTIFYREMINDERS does: the chunk's residents in one query, not one by one
            people = session.scalars(select(Person).order_by(Person.id)).all()
            requests = [
                NotificationRequest(
                    people[n % len(people)],
                    "reminder:order-expiring",
                    f"reminder:order-expiring:{n}",
                )
                for n in range(first, min(first + chunk, args.count))
            ]
            if args.bulk:
                queue_notifications(session, requests, now=now)
            else:
                for request in requests:
                    queue_notification(
                        session,
                        person=request.person,
                        kind=request.kind,
                        dedupe_key=request.dedupe_key,
                        now=now,
                    )
            session.commit()
        queued = time.perf_counter() - started

    with Session(engine) as session:
        started = time.perf_counter()
        sent = 0
        while send_next(session, config, claimant="1@bench:1", now=now) == "sent":
            sent += 1
        sending = time.perf_counter() - started

    files = sum(1 for _ in config.path_of("NotificationDirectory").iterdir())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{engine.dialect.name}: {args.count} notifications; "
        f"{'queue_notifications' if args.bulk else 'queue_notification'} "
        f"queue {args.count / queued:,.0f}/s, send {sent / sending:,.0f}/s "
        f"({files} files); peak RSS {peak_mb:.0f} MB"
    )
    assert sent == files == args.count


if __name__ == "__main__":
    main()
