"""Benchmark NOTIFYREMINDERS: due reminders per second and peak memory, file channel.

Fills a fresh database with N orders that expire tomorrow (each due for an "order
expiring" reminder), then runs the real `ep batch notify-reminders` as a subprocess, which
queues every reminder and sends it through the file channel. Reports reminders per second
(queued and sent, end to end) and the command's peak RSS, for each N, so memory can be
seen to stay flat as N grows.

    .venv/bin/python bench/notify_reminders.py                      # SQLite
    .venv/bin/python bench/notify_reminders.py --database postgresql+psycopg://postgres@127.0.0.1/ep_bench
    .venv/bin/python bench/notify_reminders.py --sizes 50000,200000

The PostgreSQL database is emptied (its public schema dropped) first, and ANALYZE runs
after the fill, as autovacuum would have in a database that grew to this size. Goals (issue 3):
>= 5,000 reminders/s on SQLite and >= 2,000/s on PostgreSQL for 200,000 reminders,
peak RSS under 250 MB and flat from 50,000 to 200,000.

    .venv/bin/python bench/notify_reminders.py --recurring 10000,100000 [--database URL]

measures instead the offer-due-again finder (issue 12) with nothing due among N recurring
offers, each sampled 10 days ago: its time in-process (median of 20 calls), its SQL
statements, and on PostgreSQL the offer rows it reads (EXPLAIN ANALYZE). Its cost should
follow what is due, so be the same for 10,000 and 100,000. The script runs on code from
before ``offer.due_again_at`` too (without ``refresh_due_again``), for a before/after.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import event, func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.process import environment, run_measured  # noqa: E402
from ep import create_app  # noqa: E402
from ep.config import load_config  # noqa: E402
from ep.domain import reminders  # noqa: E402
from ep.extensions import db  # noqa: E402
from ep.identity import new_order_number  # noqa: E402
from ep.models import Notification, Offer, Order, Package, Person  # noqa: E402
from ep.timeutil import utcnow  # noqa: E402
from tests.support import EP_COMMAND, make_instance, reset_schema  # noqa: E402

# None on the code before offer.due_again_at (measuring "before")
refresh_due_again = getattr(reminders, "refresh_due_again", None)
FINDER_CALLS = 20

ORDERS_PER_PERSON = 4


def add_people(session, orders: int, now) -> list[int]:
    """Enough residents for ``orders`` orders (ORDERS_PER_PERSON each); their ids in order."""
    people = (orders + ORDERS_PER_PERSON - 1) // ORDERS_PER_PERSON
    for start in range(0, people, 10_000):
        session.execute(
            insert(Person),
            [
                {"personnummer": f"19{n:010d}", "language": "sv", "created_at": now}
                for n in range(start, min(start + 10_000, people))
            ],
        )
    return list(session.scalars(select(Person.id).order_by(Person.id)))


def fill(app, count: int) -> None:
    """N orders expiring tomorrow, ORDERS_PER_PERSON per resident, inserted in bulk."""
    now = utcnow()
    with app.app_context():
        session = db.session
        package_id = session.execute(
            insert(Package)
            .values(
                code="BENCH",
                name_sv="Paket",
                name_en="Package",
                remind_expiring_within_days=3,
                created_at=now,
            )
            .returning(Package.id)
        ).scalar_one()
        person_ids = add_people(session, count, now)
        # order numbers are random: at 200,000 two of them may well meet, so draw distinct ones
        numbers: set[str] = set()
        while len(numbers) < count:
            numbers.add(new_order_number())
        numbers_in_order = sorted(numbers)
        for start in range(0, count, 10_000):
            session.execute(
                insert(Order),
                [
                    {
                        "number": numbers_in_order[n],
                        "person_id": person_ids[n // ORDERS_PER_PERSON],
                        "package_id": package_id,
                        "status": "ordered",
                        "ordered_at": now - timedelta(days=20),
                        "expires_at": now + timedelta(days=1),
                        "home_kit": False,
                        "held_for_contact": False,
                    }
                    for n in range(start, min(start + 10_000, count))
                ],
            )
        session.commit()
        # the statistics autovacuum keeps in a running database (its first pass after a
        # bulk load comes within a minute; the batch here starts at once)
        session.execute(text("ANALYZE"))
        session.commit()


def measure(url: str, count: int, folder: Path) -> dict:
    reset_schema(url)
    instance = folder / f"instance-{count}"
    config_path = make_instance(instance, url)
    app = create_app(load_config(config_path, environ={}))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    fill(app, count)
    done = run_measured([EP_COMMAND, "batch", "notify-reminders"], environment(config_path))
    if done.returncode != 0:
        raise SystemExit(f"the batch failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    with app.app_context():
        sent = db.session.scalar(
            select(func.count()).select_from(Notification).where(Notification.status == "sent")
        )
        db.engine.dispose()
    files = sum(1 for _ in (instance / "outbox" / "notifications").glob("*.txt"))
    if sent != count or files != count:
        raise SystemExit(f"expected {count} sent and files, got {sent} sent, {files} files")
    return {
        "count": count,
        "seconds": done.seconds,
        "per_second": count / done.seconds,
        "peak_rss_mb": done.peak_rss_mb,
        "summary": done.stdout.strip(),
    }


def fill_recurring(app, count: int) -> float:
    """N quarterly offers, each with one order sampled 10 days ago: none due again.
    Returns the seconds refresh_due_again took over all of them (0 before it existed)."""
    now = utcnow()
    with app.app_context():
        session = db.session
        package_id = session.execute(
            insert(Package)
            .values(code="BENCH", name_sv="Paket", name_en="Package", created_at=now)
            .returning(Package.id)
        ).scalar_one()
        person_ids = add_people(session, count, now)
        for start in range(0, count, 10_000):
            chunk = range(start, min(start + 10_000, count))
            offer_ids = session.scalars(
                insert(Offer).returning(Offer.id, sort_by_parameter_order=True),
                [
                    {
                        "person_id": person_ids[n // ORDERS_PER_PERSON],
                        "package_id": package_id,
                        "valid_from": now - timedelta(days=400),
                        "valid_until": now + timedelta(days=400),
                        "recurrence_months": 3,
                        "status": "active",
                        "created_at": now - timedelta(days=400),
                    }
                    for n in chunk
                ],
            ).all()
            session.execute(
                insert(Order),
                [
                    {
                        "number": f"EP-B{n:07d}",
                        "person_id": person_ids[n // ORDERS_PER_PERSON],
                        "package_id": package_id,
                        "offer_id": offer_id,
                        "status": "released",
                        "ordered_at": now - timedelta(days=12),
                        "expires_at": now + timedelta(days=18),
                        "sampled_at": now - timedelta(days=10),
                        "home_kit": False,
                        "held_for_contact": False,
                    }
                    for n, offer_id in zip(chunk, offer_ids, strict=True)
                ],
            )
        session.commit()
        seconds = 0.0
        if refresh_due_again is not None:
            started = time.perf_counter()
            refresh_due_again(session, Offer.recurrence_months.is_not(None))
            session.commit()
            seconds = time.perf_counter() - started
        if db.engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE"))
        session.commit()
        return seconds


def _offer_rows_read(session, statement: str, parameters) -> int:
    """Rows of ``offer`` that PostgreSQL reads for ``statement`` (EXPLAIN ANALYZE)."""
    [[plan]] = session.connection().exec_driver_sql(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
    )
    plan = plan if isinstance(plan, list) else json.loads(plan)
    read, nodes = 0, [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Relation Name") == "offer":
            read += node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
    return read


def measure_due_again(url: str, count: int, folder: Path) -> dict:
    reset_schema(url)
    config_path = make_instance(folder / f"instance-recurring-{count}", url)
    app = create_app(load_config(config_path, environ={}))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    refresh_seconds = fill_recurring(app, count)
    with app.app_context():
        session, now = db.session, utcnow()
        statements: list[tuple[str, object]] = []

        def note(_conn, _cursor, statement, parameters, *_args):
            if statement != "BEGIN":
                statements.append((statement, parameters))

        timings = []
        for call in range(FINDER_CALLS):
            if call == 0:
                event.listen(db.engine, "before_cursor_execute", note)
            started = time.perf_counter()
            found = reminders.offers_due_again(session, now=now, after=0, limit=500)
            timings.append(time.perf_counter() - started)
            if call == 0:
                event.remove(db.engine, "before_cursor_execute", note)
            session.rollback()
            if found:
                raise SystemExit(f"expected nothing due, found {len(found)}")
        rows_read = None
        if db.engine.dialect.name == "postgresql":
            rows_read = sum(_offer_rows_read(session, *seen) for seen in statements)
            session.rollback()
        db.engine.dispose()
    app.extensions["ep_operator_engine"].dispose()
    return {
        "count": count,
        "ms": statistics.median(timings) * 1000,
        "statements": len(statements),
        "rows_read": rows_read,
        "refresh_s": refresh_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="SQLAlchemy URL (default: a SQLite file in a temp dir)")
    parser.add_argument("--sizes", default="50000,200000", help="comma-separated reminder counts")
    parser.add_argument(
        "--recurring", help="comma-separated recurring-offer counts: the due-again finder"
    )
    args = parser.parse_args()
    if args.recurring:
        with tempfile.TemporaryDirectory(prefix="ep-bench-") as tmp:
            folder = Path(tmp)
            url = args.database or f"sqlite:///{folder / 'bench.sqlite'}"
            kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
            for count in sorted(int(s) for s in args.recurring.split(",")):
                r = measure_due_again(url, count, folder)
                rows = "" if r["rows_read"] is None else f"  {r['rows_read']:>7,} offer rows read"
                print(
                    f"{kind:<10} {r['count']:>8,} recurring offers, none due: finder "
                    f"{r['ms']:8.1f} ms  {r['statements']:>4} statements{rows}"
                    + (
                        f"  (refresh_due_again of all: {r['refresh_s']:.1f} s)"
                        if r["refresh_s"]
                        else ""
                    ),
                    flush=True,
                )
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="ep-bench-") as tmp:
        folder = Path(tmp)
        url = args.database or f"sqlite:///{folder / 'bench.sqlite'}"
        kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        for count in sizes:
            result = measure(url, count, folder)
            print(
                f"{kind:<10} {result['count']:>8,} reminders  {result['seconds']:7.1f} s  "
                f"{result['per_second']:7,.0f} reminders/s  "
                f"peak RSS {result['peak_rss_mb']:5.0f} MB",
                flush=True,
            )
            print(f"           {result['summary']}", flush=True)


if __name__ == "__main__":
    main()
