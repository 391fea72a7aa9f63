"""Benchmark lab reports per second: the inbox import, POST /api/v1/lab-reports and MLLP.

    .venv/bin/python bench/api_lab_reports.py [--messages 2000] [--clients 2] [--database URL]

The same messages (HL7 ORU^R01, 1 OBR and 5 OBX each, every one matching a sampled
order; made by bench/import_results.py's ``prepare``) go through each road in turn, with
the results and lab messages cleared between them:

- inbox: the real IMPORTRESULTS batch over the files (chunks of 100, one commit each);
- API: a real gunicorn with TLS (deploy/gunicorn.conf.py, one gthread worker), each
  report POSTed with a function certificate on a new TLS connection, as a lab's system
  connects, ``--clients`` at a time; each answer must be 201 with MSA|AA;
- MLLP: a real `ep mllp serve`, ``--clients`` connections each sending its share one
  message at a time and waiting for the AA (one commit per message, as the ACK needs).

Without --database a SQLite file in a temporary folder is used; a PostgreSQL URL must
name an empty scratch database (its schema is dropped and migrated).
"""

import argparse
import http.client
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from hl7.client import MLLPClient
from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_results import prepare  # noqa: E402
from ep.batches.import_results import IMPORTRESULTS  # noqa: E402
from ep.batches.runner import run_batch  # noqa: E402
from ep.domain.audit import Actor  # noqa: E402
from ep.domain.users import add_user  # noqa: E402
from ep.extensions import db  # noqa: E402
from ep.models import LabMessage, Order, Result  # noqa: E402
from ep.timeutil import utcnow  # noqa: E402
from tests.healthcheck.conftest import start_server, stop_server  # noqa: E402
from tests.pki import PKI  # noqa: E402
from tests.support import EP_COMMAND  # noqa: E402

SYSTEM = "SE2321000016-BNCH"


def reset(app) -> None:
    """Forget every result and lab message of the run before; orders back to sampled."""
    with app.app_context(), Session(db.engine) as session:
        session.execute(delete(Result))
        session.execute(delete(LabMessage).where(LabMessage.control_id.like("BENCH%")))
        session.execute(update(Order).values(status="sampled", resulted_at=None))
        session.commit()
        if db.engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE"))
            session.commit()


def run_inbox(app, config, count: int) -> float:
    with app.app_context(), Session(db.engine) as session:
        started = time.perf_counter()
        outcome = run_batch(IMPORTRESULTS, session=session, config=config)
        seconds = time.perf_counter() - started
    if outcome.succeeded != count:
        raise SystemExit(f"the inbox import did not import everything: {outcome}")
    return seconds


def in_parallel(clients: int, texts: list[str], send) -> float:
    """Send ``texts`` with ``clients`` threads, each its share in order; return seconds."""
    errors: list[str] = []

    def work(share: list[str]) -> None:
        try:
            send(share)
        except Exception as exc:  # reported after the run, not lost in a thread
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(texts[n::clients],)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{len(errors)} clients failed: {errors[0]}")
    return time.perf_counter() - started


def run_api(server, cert, ca_path: Path, texts: list[str], clients: int) -> float:
    context = ssl.create_default_context(cafile=str(ca_path))
    context.load_cert_chain(cert.cert_path, cert.key_path)

    def send(share: list[str]) -> None:
        for body in share:
            conn = http.client.HTTPSConnection(server.host, server.port, context=context)
            try:
                conn.request(
                    "POST",
                    "/api/v1/lab-reports",
                    body=body.encode(),
                    headers={"Content-Type": "application/hl7-v2"},
                )
                response = conn.getresponse()
                answer = response.read()
            finally:
                conn.close()
            if response.status != 201 or b"MSA|AA|" not in answer:
                raise RuntimeError(f"{response.status}: {answer[:300]!r}")

    return in_parallel(clients, texts, send)


def run_mllp(config_path: Path, texts: list[str], clients: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    env["EP_CONFIG"] = str(config_path)
    process = subprocess.Popen(
        [EP_COMMAND, "mllp", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = int(process.stdout.readline().strip().rsplit(":", 1)[1])

        def send(share: list[str]) -> None:
            with MLLPClient("127.0.0.1", port) as client:
                for body in share:
                    answer = client.send_message(body)
                    if b"MSA|AA|" not in answer:
                        raise RuntimeError(answer[:300])

        return in_parallel(clients, texts, send)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def measure(database_url: str, count: int, clients: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ep-bench-api-") as tmp:
        folder = Path(tmp)
        app, config, texts = prepare(database_url, folder / "inbox-instance", count)
        figures = {"inbox": count / run_inbox(app, config, count)}

        reset(app)
        pki = PKI(folder / "pki")
        with app.app_context(), Session(db.engine) as session:
            add_user(
                session,
                hsa_id=SYSTEM,
                name="Benchmark lab",
                roles=["integration"],
                actor=Actor.system("bench"),
                now=utcnow(),
            )
            session.commit()
        cert = pki.issue_client_cert(SYSTEM, "Benchmark lab")
        # the measure is the throughput, not the rate limit a region sets per certificate
        unlimited = {"ApiRateLimit": "1000000/minute", "ApiLabReportRateLimit": "1000000/minute"}
        server = start_server(folder / "api-instance", database_url, pki, **unlimited)
        try:
            figures["api"] = count / run_api(server, cert, pki.ca_path, texts, clients)
        finally:
            stop_server(server)

        reset(app)
        seconds = run_mllp(folder / "api-instance" / "ep.ini", texts, clients)
        figures["mllp"] = count / seconds
        with app.app_context():
            db.engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--database", help="a scratch PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ep-bench-db-") as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        figures = measure(url, args.messages, args.clients)
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"| {date.today()} | {kind} | {args.messages:,} | {args.clients} "
        f"| {figures['inbox']:,.0f}/s | {figures['api']:,.0f}/s "
        f"({figures['api'] / figures['inbox']:.0%}) | {figures['mllp']:,.0f}/s "
        f"({figures['mllp'] / figures['inbox']:.0%}) | {load} |"
    )


if __name__ == "__main__":
    main()
