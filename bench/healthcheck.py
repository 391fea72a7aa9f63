"""Benchmark: HealthCheckStatus throughput against a bare Flask route, and with history.

    .venv/bin/python bench/healthcheck.py [--seconds 8] [--rounds 3] [--concurrency 4]
                                          [--database-url postgresql+psycopg://…]

Both servers run under the same gunicorn configuration (deploy/gunicorn.conf.py: TLS,
cert_reqs = ssl.CERT_OPTIONAL, the demo CA as ca_certs, 2 sync workers), and the client
presents the demo operator's certificate to both. Rounds alternate between the two so
machine noise hits both alike; the median round counts. Then 1,000,000 BatchRun rows and
1,000,000 orders are added and HealthCheckStatus is measured again.

The load comes from a bounded Python client on loopback (a process per connection slot,
each a fresh TLS connection per request, as gunicorn's sync workers close after each),
limited in time (--seconds per round) and count (--max-requests per round).
"""

import argparse
import multiprocessing
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from http.client import HTTPSConnection
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PATH = "/OmniqOperator/Operator/HealthCheckStatus"
OPERATOR = "SE2321000016-EPO1"
ROWS = 1_000_000


def free_socket() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    return listener


def start(app: str, env: dict) -> tuple[subprocess.Popen, int]:
    listener = free_socket()
    port = listener.getsockname()[1]
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), app],
        cwd=ROOT,
        env={**env, "EP_BIND": f"fd://{listener.fileno()}", "EP_WORKERS": "2"},
        pass_fds=[listener.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    listener.close()
    return process, port


def _client(args) -> tuple[int, int]:
    port, certs, deadline, budget = args
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    context.load_cert_chain(certs / f"{OPERATOR}.pem", certs / f"{OPERATOR}.key")
    done = errors = 0
    while time.monotonic() < deadline and done + errors < budget:
        conn = HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
        try:
            conn.request("GET", PATH)
            response = conn.getresponse()
            body = response.read()
            if response.status == 200 and body == b"OK":
                done += 1
            else:
                errors += 1
        except OSError:
            errors += 1
        finally:
            conn.close()
    return done, errors


def measure(pool, port: int, certs: Path, seconds: float, concurrency: int, cap: int) -> float:
    """Requests per second answered 200 OK over ``seconds`` from ``concurrency`` clients."""
    started = time.monotonic()
    deadline = started + seconds
    results = pool.map(_client, [(port, certs, deadline, cap // concurrency)] * concurrency)
    elapsed = time.monotonic() - started
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    if errors:
        raise SystemExit(f"{errors} requests did not get 200 OK: is the demo operator set up?")
    return done / elapsed


def wait_ready(port: int, certs: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _client((port, certs, time.monotonic() + 5, 1))[0] == 1:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server on port {port} did not answer OK")


def fresh_heartbeats(engine) -> None:
    """Every batch active a minute ago, so HealthCheckStatus answers OK."""
    from ep.config import BATCHES

    now = datetime.now(UTC) - timedelta(minutes=1)
    sqlite = engine.dialect.name == "sqlite"
    stamp = now.replace(tzinfo=None).isoformat(sep=" ") if sqlite else now
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM batch_heartbeat"))
        for batch in BATCHES:
            conn.execute(
                text(
                    "INSERT INTO batch_heartbeat (batch, last_activity_at, last_outcome, "
                    "last_success_at) VALUES (:b, :t, 'succeeded', :t)"
                ),
                {"b": batch, "t": stamp},
            )


def add_history(engine, rows: int) -> None:
    """``rows`` BatchRun rows and ``rows`` orders, in one INSERT … SELECT each."""
    if engine.dialect.name == "sqlite":
        numbers = (
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})"
        )
        start = "datetime('2025-01-01', '+' || (i % 500000) || ' minutes')"
        end = "datetime('2025-01-01', '+' || (i % 500000) || ' minutes', '+30 seconds')"
        source = "FROM n"
    else:
        numbers = ""
        start = "timestamptz '2025-01-01 00:00+00' + (i % 500000) * interval '1 minute'"
        end = f"{start} + interval '30 seconds'"
        source = f"FROM generate_series(1, {rows}) AS n(i)"
    batches = (
        "CASE i % 5 WHEN 0 THEN 'NOTIFYREMINDERS' WHEN 1 THEN 'IMPORTRESULTS' "
        "WHEN 2 THEN 'NOTIFYRESULTS' WHEN 3 THEN 'EXPIREORDERS' ELSE 'PURGE' END"
    )
    false = "0" if engine.dialect.name == "sqlite" else "false"
    with engine.begin() as conn:
        person = conn.execute(text("SELECT min(id) FROM person")).scalar_one()
        package = conn.execute(text("SELECT min(id) FROM package")).scalar_one()
        conn.execute(
            text(
                f"{numbers} INSERT INTO batch_run (batch, host, pid, started_at, finished_at, "
                "status, dry_run, processed, succeeded, failed, skipped) "
                f"SELECT {batches}, 'bench', i, {start}, {end}, "
                f"CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'succeeded' END, {false}, 10, 9, 1, 0 "
                f"{source}"
            )
        )
        conn.execute(
            text(
                f'{numbers} INSERT INTO "order" (number, person_id, package_id, home_kit, '
                "status, ordered_at, expires_at, held_for_contact) "
                f"SELECT 'BENCH-' || i, {person}, {package}, {false}, 'released', "
                f"{start}, {end}, {false} {source}"
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ep-bench-"))
    instance = folder / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    env["EP_CONFIG"] = str(instance / "ep.ini")
    if args.database_url:
        env["EP_DATABASE_URL"] = args.database_url
    init = subprocess.run(
        [str(BIN / "ep"), "init", "--demo", "--instance", str(instance)],
        env=env,
        capture_output=True,
        text=True,
    )
    if init.returncode:
        raise SystemExit(init.stderr)
    url = args.database_url or f"sqlite:///{instance / 'ep.sqlite'}"
    engine = create_engine(url)
    if args.database_url:  # a reused database: start from no history
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM batch_run WHERE host = 'bench'"))
            conn.execute(text("DELETE FROM \"order\" WHERE number LIKE 'BENCH-%'"))
    fresh_heartbeats(engine)
    certs = instance / "certs"

    ep, ep_port = start("wsgi:app", env)
    bare, bare_port = start("bench.bare_app:app", env)
    results: dict[str, list[float]] = {"bare": [], "empty": [], "bare (after fill)": [], "full": []}
    try:
        wait_ready(ep_port, certs)
        wait_ready(bare_port, certs)
        with multiprocessing.Pool(args.concurrency) as pool:
            run = lambda port: measure(  # noqa: E731
                pool, port, certs, args.seconds, args.concurrency, args.max_requests
            )
            run(bare_port), run(ep_port)  # warm both up
            for _ in range(args.rounds):
                results["bare"].append(run(bare_port))
                results["empty"].append(run(ep_port))
            filled = time.monotonic()
            add_history(engine, args.rows)
            fresh_heartbeats(engine)
            fill_seconds = time.monotonic() - filled
            run(ep_port)
            for _ in range(args.rounds):
                results["bare (after fill)"].append(run(bare_port))
                results["full"].append(run(ep_port))
    finally:
        for process in (ep, bare):
            process.terminate()
            process.wait(timeout=30)

    median = {name: statistics.median(values) for name, values in results.items()}
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT count(*) FROM batch_run")).scalar_one()
        orders = conn.execute(text('SELECT count(*) FROM "order"')).scalar_one()
    engine.dispose()
    print(
        f"database: {engine.dialect.name}; {runs} batch runs, {orders} orders after the fill "
        f"({fill_seconds:.0f} s to add)"
    )
    for name, values in results.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:>18}: median {median[name]:7.1f} req/s  (rounds: {rounds})")
    print(
        f"HealthCheckStatus / bare route (empty database): {median['empty'] / median['bare']:.0%}"
    )
    print(f"HealthCheckStatus with history / empty: {median['full'] / median['empty']:.0%}")
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
