"""Benchmark: "Mina provsvar" for a resident with 10 years of quarterly orders.

40 orders x 5 analyses, all released. Measures the whole page in-process (Flask test
client: login session, queries, trend SVGs, template) and counts the SQL statements per
request with 4 and with 40 orders, which must be the same (no query per order).

    .venv/bin/python bench/my_results.py [--requests 200] [--database-url URL]

Without --database-url it runs on a SQLite file in a temporary folder.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ep import create_app  # noqa: E402
from ep.config import load_config  # noqa: E402
from ep.domain.demo import load_demo  # noqa: E402
from ep.extensions import db  # noqa: E402
from ep.identity import new_order_number  # noqa: E402
from ep.instance import write_ini  # noqa: E402
from ep.models import Analysis, Order, Package, Person, Result  # noqa: E402
from ep.timeutil import utcnow  # noqa: E402

CODES = ("NPU27300", "NPU02192", "NPU03577", "NPU01685", "NPU08669")
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def seed(session, personnummer: str, orders: int, now) -> Person:
    """A resident with ``orders`` quarterly released orders of a 5-analysis package."""
    package = session.query(Package).filter_by(code="BENCH5").one_or_none()
    analyses = {a.code: a for a in session.query(Analysis).filter(Analysis.code.in_(CODES))}
    if package is None:
        package = Package(
            code="BENCH5",
            name_sv="Fem analyser",
            name_en="Five analyses",
            analyses=[analyses[c] for c in CODES],
            created_at=now,
        )
        session.add(package)
    person = Person(personnummer=personnummer, given_name="Bänk", family_name="Test")
    session.add(person)
    session.flush()
    for quarter in range(orders):
        when = now - timedelta(days=91 * (orders - quarter))
        order = Order(
            number=new_order_number(),
            person_id=person.id,
            package_id=package.id,
            status="released",
            ordered_at=when - timedelta(days=3),
            expires_at=when + timedelta(days=27),
            sampled_at=when,
            resulted_at=when,
            released_at=when,
        )
        session.add(order)
        session.flush()
        for index, code in enumerate(CODES):
            analysis = analyses[code]
            value = (analysis.ref_high or 3.0) * (0.8 + 0.1 * ((quarter + index) % 5))
            session.add(
                Result(
                    order_id=order.id,
                    analysis_code=code,
                    analysis_id=analysis.id,
                    value_text=f"{value:.1f}".replace(".", ","),
                    value_numeric=round(value, 1),
                    unit=analysis.unit,
                    ref_range=analysis.ref_text,
                    ref_low=analysis.ref_low,
                    ref_high=analysis.ref_high,
                    status="F",
                    observed_at=when,
                    received_at=when,
                    released_at=when,
                )
            )
    session.commit()
    return person


def logged_in_client(app, personnummer: str):
    client = app.test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"csrf_token": token, "personnummer": personnummer})
    assert response.status_code == 302, response.status_code
    return client


def count_queries(app, client) -> int:
    statements = []

    def count(*args):
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get("/results")
        assert response.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        ini = Path(folder) / "ep.ini"
        url = args.database_url or f"sqlite:///{folder}/bench.sqlite"
        write_ini(ini, values={"CitizenLogin": "dev"}, database_url=url)
        app = create_app(load_config(ini, environ={}))
        now = utcnow()
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
            load_demo(db.session, now=now, history=False)
            db.session.commit()
            small = seed(db.session, "198112289874", 4, now).personnummer
            large = seed(db.session, "194911212373", 40, now).personnummer

        queries = {}
        for label, personnummer in (("4 orders", small), ("40 orders", large)):
            client = logged_in_client(app, personnummer)
            client.get("/results")  # warm the template cache
            queries[label] = count_queries(app, client)
        page = client.get("/results").get_data(as_text=True)
        assert page.count('<svg class="trend"') == 5, "expected a trend per analysis"
        assert page.count('class="order-results"') == 40

        timings, cpu = [], []
        for _ in range(args.requests):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get("/results")
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert response.status_code == 200
        timings.sort()
        cpu.sort()
        p50 = statistics.median(timings)
        p95 = timings[int(len(timings) * 0.95) - 1]
        backend = url.split(":", 1)[0]
        print(f"database: {backend}; page size {len(page) // 1024} KiB")
        print(f"SQL statements per request: {queries}")
        print(
            f"/results with 40 orders x 5 analyses, {args.requests} requests: "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms"
        )
        # the machine is shared: CPU time per request shows what the page itself costs
        print(
            f"CPU time per request: p50 {statistics.median(cpu):.1f} ms, "
            f"p95 {cpu[int(len(cpu) * 0.95) - 1]:.1f} ms; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        ok = p95 < 50 and len(set(queries.values())) == 1
        print("goal (p95 < 50 ms, same query count): " + ("met" if ok else "NOT met"))
        with app.app_context():
            db.engine.dispose()
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
