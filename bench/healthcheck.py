"""Benchmark: HealthCheckStatus throughput against a bare Flask route, and with history.

    .venv/bin/python bench/healthcheck.py [--seconds 6] [--rounds 5] [--concurrency 4]
                                          [--database-urls EMPTY_URL FULL_URL]

Two views side by side in one run, each with three servers under the same gunicorn
configuration (deploy/gunicorn.conf.py: 2 gthread workers, keep-alive): the bare route,
EP on an empty database, and EP on a database holding 1,000,000 BatchRun rows and
1,000,000 orders.

- the monitor's view (``ClientCertificateSource = tls``): gunicorn terminates TLS
  (cert_reqs = ssl.CERT_OPTIONAL, the demo CA as ca_certs) and a bounded Python client on
  loopback (a process per connection slot) opens a fresh TLS connection with the demo
  operator's certificate for every request, as a monitor does; the handshake dominates;
- EP's own cost (``ClientCertificateSource = header``, as behind nginx in production):
  plain HTTP from 127.0.0.1 (a TrustedProxy) with the operator's certificate in
  X-SSL-Client-Cert, loaded by wrk over kept-alive connections, so what is measured is
  EP's work per request.

Rounds alternate between the servers (in rotating order) so machine noise hits all alike;
the ratios are the medians of the per-round ratios. Each round is limited in time
(--seconds) and, for the Python client, in count (--max-requests).
"""

import argparse
import multiprocessing
import os
import platform
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection, HTTPSConnection
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, text

from ep.batches.spine import BATCHES

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


def start(
    app: str, env: dict, *, workers: int = 2, output=subprocess.DEVNULL
) -> tuple[subprocess.Popen, int]:
    """gunicorn with the shipped configuration on a free port; ``output`` takes its log."""
    listener = free_socket()
    port = listener.getsockname()[1]
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), app],
        cwd=ROOT,
        env={**env, "EP_BIND": f"fd://{listener.fileno()}", "EP_WORKERS": str(workers)},
        pass_fds=[listener.fileno()],
        stdout=output,
        stderr=output,
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


def certificate_header(certs: Path) -> str:
    """The operator's certificate as nginx passes it ($ssl_client_escaped_cert)."""
    return "X-SSL-Client-Cert: " + quote((certs / f"{OPERATOR}.pem").read_text().strip())


def measure_wrk(port: int, header: str, seconds: float, concurrency: int) -> float:
    """Requests per second answered 200 over ``seconds`` from wrk's ``concurrency`` connections."""
    shown = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{concurrency}",
            f"-d{seconds:.0f}s",
            "-H",
            header,
            f"http://127.0.0.1:{port}{PATH}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # a read "error" is wrk finding a kept-alive connection closed by the worker (its
    # keepalive seconds, or a restart); any other socket error or answer but 2xx fails
    errors = re.search(r"connect (\d+), read \d+, write (\d+), timeout (\d+)", shown)
    if "Non-2xx" in shown or (errors and any(int(n) for n in errors.groups())):
        raise SystemExit(f"wrk saw errors on port {port}:\n{shown}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", shown).group(1))


def wait_ready_header(port: int, header: str) -> None:
    name, value = header.split(": ", 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", PATH, headers={name: value})
            if conn.getresponse().read() == b"OK":
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server on port {port} did not answer OK in header mode")


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
    # the statistics and visibility map a running database has: without this, autovacuum
    # and a checkpoint work through the new rows during the measurement (PostgreSQL), and
    # the plans are made without statistics
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))  # the new rows written out now, not mid-round
        else:
            conn.execute(text("ANALYZE"))


def make_instance(folder: Path, database_url: str | None) -> tuple[dict, Path, object]:
    """`ep init --demo` in ``folder``: environment, certs folder and an engine."""
    instance = folder / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    env["EP_CONFIG"] = str(instance / "ep.ini")
    if database_url:
        env["EP_DATABASE_URL"] = database_url
    init = subprocess.run(
        [str(BIN / "ep"), "init", "--demo", "--instance", str(instance)],
        env=env,
        capture_output=True,
        text=True,
    )
    if init.returncode:
        raise SystemExit(init.stderr)
    engine = create_engine(database_url or f"sqlite:///{instance / 'ep.sqlite'}")
    if database_url:  # a reused database: start from no history
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM batch_run WHERE host = 'bench'"))
            conn.execute(text("DELETE FROM \"order\" WHERE number LIKE 'BENCH-%'"))
    fresh_heartbeats(engine)
    return env, instance / "certs", engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument(
        "--database-urls",
        nargs=2,
        metavar=("EMPTY_URL", "FULL_URL"),
        help="two PostgreSQL databases (default: two SQLite files in a temporary folder)",
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ep-bench-"))
    urls = args.database_urls or (None, None)
    empty_env, empty_certs, empty_engine = make_instance(folder / "empty", urls[0])
    full_env, full_certs, full_engine = make_instance(folder / "full", urls[1])
    filled = time.monotonic()
    add_history(full_engine, args.rows)
    fresh_heartbeats(full_engine)
    if full_engine.dialect.name == "sqlite":
        # in steady state the history sits in the database file, not in the WAL
        with full_engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    fill_seconds = time.monotonic() - filled
    with full_engine.connect() as conn:
        runs = conn.execute(text("SELECT count(*) FROM batch_run")).scalar_one()
        orders = conn.execute(text('SELECT count(*) FROM "order"')).scalar_one()

    # the bare app is served with the empty instance's configuration (same TLS, same CA)
    header_mode = {"EP_ClientCertificateSource": "header"}
    # each instance has its own demo CA, so each its own operator certificate
    empty_header, full_header = certificate_header(empty_certs), certificate_header(full_certs)
    servers = {
        "bare route": (*start("bench.bare_app:app", empty_env), empty_certs),
        "HealthCheckStatus, empty": (*start("wsgi:app", empty_env), empty_certs),
        "HealthCheckStatus, full": (*start("wsgi:app", full_env), full_certs),
        "header: bare route": (
            *start("bench.bare_app:app", {**empty_env, **header_mode}),
            empty_header,
        ),
        "header: HealthCheckStatus, empty": (
            *start("wsgi:app", {**empty_env, **header_mode}),
            empty_header,
        ),
        "header: HealthCheckStatus, full": (
            *start("wsgi:app", {**full_env, **header_mode}),
            full_header,
        ),
    }
    results: dict[str, list[float]] = {name: [] for name in servers}
    try:
        for _process, port, certs in servers.values():
            if isinstance(certs, str):  # header mode: the certificate header
                wait_ready_header(port, certs)
            else:
                wait_ready(port, certs)
        with multiprocessing.Pool(args.concurrency) as pool:

            def run(name: str) -> float:
                _process, port, certs = servers[name]
                if isinstance(certs, str):
                    return measure_wrk(port, certs, args.seconds, args.concurrency)
                return measure(pool, port, certs, args.seconds, args.concurrency, args.max_requests)

            for name in servers:  # warm up
                run(name)
            names = list(servers)
            for round_number in range(args.rounds):
                # rotate the order so no server always runs first or last
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    results[name].append(run(name))
    finally:
        for process, _port, _certs in servers.values():
            process.terminate()
            process.wait(timeout=30)
    for engine in (empty_engine, full_engine):
        engine.dispose()

    print(
        f"database: {full_engine.dialect.name}; the full one holds {runs} batch runs and "
        f"{orders} orders ({fill_seconds:.0f} s to add)"
    )
    for name, values in results.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:>34}: median {statistics.median(values):7.1f} req/s  (rounds: {rounds})")
    for view, prefix in (
        ("TLS per request (monitor's view)", ""),
        ("header mode (EP's own cost)", "header: "),
    ):
        bare, empty, full = (
            results[prefix + name]
            for name in ("bare route", "HealthCheckStatus, empty", "HealthCheckStatus, full")
        )
        vs_bare = statistics.median(e / b for e, b in zip(empty, bare, strict=True))
        vs_empty = statistics.median(f / e for f, e in zip(full, empty, strict=True))
        print(f"{view}: HealthCheckStatus / bare route {vs_bare:.0%}, full / empty {vs_empty:.0%}")
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, "
        f"{args.concurrency} client processes, {args.rounds} rounds of {args.seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
