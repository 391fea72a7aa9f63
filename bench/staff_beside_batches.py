"""Benchmark: staff read a patient's page while the batches run beside them.

    .venv/bin/python bench/staff_beside_batches.py [--seconds 20] [--connections 8]
                                                   [--database-url URL]

An `ep init --demo` instance (bench/healthcheck.py's make_instance; SQLite in a temporary
folder unless ``--database-url`` names a PostgreSQL database), the real gunicorn with the
shipped configuration in header mode (plain HTTP, as behind nginx), and wrk sending the demo
staff member's certificate for the demo resident's page; each view writes its PDL event.
Beside it, for the whole run, the batches NOTIFYREMINDERS and NOTIFYRESULTS are started
one after the other, as a busy scheduler would. Prints wrk's requests, the answers that
were not 2xx or 3xx, the latencies, the batch runs and how often the server logged
"database is locked".
"""

import argparse
import itertools
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.healthcheck import BIN, make_instance, start  # noqa: E402
from bench.resident_pages import wait_ready  # noqa: E402

STAFF = "SE2321000016-EPS1"  # Sara Sjöberg, the demo's staff member
DEMO_RESIDENT = "191212121212"
BATCHES = ("notify-reminders", "notify-results")
NOT_OK = re.compile(r"Non-2xx or 3xx responses: (\d+)")
REQUESTS = re.compile(r"(\d+) requests in")
PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
MAXIMUM = re.compile(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)")
MS = {"us": 0.001, "ms": 1, "s": 1000}


def run_batches(env: dict, until: float, runs: list[int]) -> None:
    """Start the batches one after the other until ``until``; count runs and failures."""
    for batch in itertools.cycle(BATCHES):
        if time.monotonic() >= until:
            return
        done = subprocess.run([str(BIN / "ep"), "batch", batch], env=env, capture_output=True)
        runs[0] += 1
        runs[1] += done.returncode != 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ep-staff-bench-"))
    env, certs, engine = make_instance(folder, args.database_url)
    with engine.connect() as conn:
        person = conn.execute(
            text("SELECT id FROM person WHERE personnummer = :p"), {"p": DEMO_RESIDENT}
        ).scalar_one()
    header = "X-SSL-Client-Cert: " + quote((certs / f"{STAFF}.pem").read_text().strip())
    log_path = folder / "gunicorn.log"
    started = os.getloadavg()
    with open(log_path, "wb") as log:
        process, port = start(
            "wsgi:app", {**env, "EP_ClientCertificateSource": "header"}, output=log
        )
    try:
        wait_ready(port, "/")
        runs = [0, 0]
        batches = threading.Thread(
            target=run_batches, args=(env, time.monotonic() + args.seconds, runs)
        )
        batches.start()
        shown = subprocess.run(
            ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency",
             "--timeout", "15s", "-H", header, f"http://127.0.0.1:{port}/staff/patients/{person}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        batches.join()
    finally:
        process.terminate()
        process.wait(timeout=30)
        engine.dispose()
    ended = os.getloadavg()
    latency = {p: float(v) * MS[unit] for p, v, unit in PERCENTILE.findall(shown)}
    worst = MAXIMUM.search(shown)
    not_ok = NOT_OK.search(shown)
    locked = log_path.read_text(errors="replace").count("database is locked")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC; {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average "
        f"{started[0]:.2f} -> {ended[0]:.2f}; database: {engine.dialect.name}"
    )
    print(
        f"wrk -t2 -c{args.connections} -d{args.seconds}s on a staff patient page, "
        f"batches {' and '.join(BATCHES)} started one after the other beside it"
    )
    print(
        f"requests {REQUESTS.search(shown).group(1)}, not 2xx/3xx "
        f"{not_ok.group(1) if not_ok else 0}, p50 {latency['50']:.1f} ms, "
        f"p99 {latency['99']:.1f} ms, max {float(worst.group(1)) * MS[worst.group(2)]:.1f} ms; "
        f"batch runs {runs[0]} ({runs[1]} failed); 'database is locked' in the log: {locked}"
    )


if __name__ == "__main__":
    main()
