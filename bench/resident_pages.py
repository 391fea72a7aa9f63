"""Benchmark: the resident's start page, "Mina provsvar" and orders under `wrk -c16` for 30 s.

    .venv/bin/python bench/resident_pages.py [--seconds 30] [--connections 16]
        [--residents 16] [--years 3] [--database-url URL]...

Each database (a SQLite file in a temporary folder unless ``--database-url`` names others;
``--database-url sqlite`` is that file, a PostgreSQL URL is emptied first) gets an
`ep init --demo` instance (Tolvan Tolvansson with two years of results) and ``--residents``
- 1 more residents with ``--years`` years of quarterly released orders of five analyses
(bench/my_results.py's seed). The real gunicorn serves it with the shipped configuration
(deploy/gunicorn.conf.py: gthread, 2 workers) over plain HTTP
(``ClientCertificateSource = header``, as behind nginx; residents need no certificate).
Every resident logs in through the demo's dev login (/login, CSRF token and all), and wrk
(``-t2 -c16 --latency``) sends each page with their session cookies in turn.

Per page and database it prints requests/s, p50/p90/p99, the answers that were not 200
(a 302 to /login would be a lost session), wrk's socket errors, the workers' CPU time per
request (the page's own cost, whatever else the machine runs), and the PDL audit events
the run wrote for that page against the requests wrk counted: every page view must write
exactly one before it is answered, so the events are at least the answered requests and
at most that plus the requests still in flight when wrk stopped (one per connection).
"""

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from http.client import HTTPConnection
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from stdnum import luhn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.healthcheck import start  # noqa: E402
from bench.my_results import seed  # noqa: E402
from ep.timeutil import utcnow  # noqa: E402

BIN = Path(sys.executable).parent
DEMO_RESIDENT = "191212121212"
# page, the audit action its view logs, and a text the page must hold for a logged-in resident
PAGES = (
    ("/", "read:own-start", "<h2>Nya provsvar</h2>"),
    ("/results", "read:own-results", 'class="order-results"'),
    ("/orders", "read:own-orders", 'href="/orders/'),
)
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
COOKIE = re.compile(r"^([^=;]+)=([^;]*)")
# wrk: each request takes the next resident's cookie; the summary counts what was not 200
WRK_SCRIPT = """
cookies = {%(cookies)s}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("offset", #threads * 5)
end
function init(args)
  n = offset
  not_ok = 0
end
function request()
  n = n + 1
  return wrk.format("GET", "%(path)s", {["Cookie"] = cookies[n %% #cookies + 1]})
end
function response(status, headers, body)
  if status ~= 200 then not_ok = not_ok + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("not_ok") end
  local e = summary.errors
  io.write(string.format("EP-SUMMARY %%d %%d %%d %%d %%d %%d %%d %%d %%d %%d %%d\\n",
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass
class Run:
    page: str
    requests: int
    seconds: float
    not_ok: int
    socket_errors: str
    p50: float
    p90: float
    p99: float
    worst: float
    audited: int
    cpu_ms: float  # the workers' CPU time per answered request: the page's own cost

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def personnummer(index: int) -> str:
    """A valid personnummer for the ``index``-th bench resident (born 1950 + index)."""
    body = f"{(50 + index) % 100:02d}0315{index % 1000:03d}"
    return f"{1950 + index:04d}0315{index % 1000:03d}{luhn.calc_check_digit(body)}"


def make_instance(folder: Path, database_url: str | None, residents: int, years: int):
    """`ep init --demo` in ``folder`` and the bench residents: environment and an engine."""
    instance = folder / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    env["EP_CONFIG"] = str(instance / "ep.ini")
    if database_url:
        env["EP_DATABASE_URL"] = database_url
        with create_engine(database_url).begin() as conn:  # a reused database starts empty
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    init = subprocess.run(
        [str(BIN / "ep"), "init", "--demo", "--instance", str(instance)],
        env=env,
        capture_output=True,
        text=True,
    )
    if init.returncode:
        raise SystemExit(init.stderr)
    engine = create_engine(database_url or f"sqlite:///{instance / 'ep.sqlite'}")
    now = utcnow()
    with Session(engine) as session:
        for index in range(residents - 1):
            seed(session, personnummer(index), years * 4, now)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    # in header mode, as behind nginx: plain HTTP, no certificate for residents
    env["EP_ClientCertificateSource"] = "header"
    env["EP_CitizenLogin"] = "dev"
    return env, engine


def wait_ready(port: int, path: str = "/login") -> None:
    """Wait until the server on ``port`` answers ``path`` with 200 (a minute at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server on port {port} did not answer {path}")


def log_in(port: int, who: str) -> str:
    """Log ``who`` in as the dev login does in a browser; the session cookie ``name=token``."""
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = COOKIE.match(response.getheader("Set-Cookie", "")).group(0)
    token = CSRF.search(page).group(1)
    conn.request(
        "POST",
        "/login",
        body=f"csrf_token={token}&personnummer={who}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    response = conn.getresponse()
    response.read()
    if response.status != 302:
        raise SystemExit(f"the login of {who} answered {response.status}")
    return COOKIE.match(response.getheader("Set-Cookie", "")).group(0)


def check_pages(port: int, cookies: list[str]) -> None:
    """Each page, for each resident, is their page (not the login, not an error)."""
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    for path, _action, marker in PAGES:
        for cookie in cookies:
            conn.request("GET", path, headers={"Cookie": cookie})
            response = conn.getresponse()
            page = response.read().decode()
            if response.status != 200 or marker not in page:
                raise SystemExit(f"{path} answered {response.status} without {marker!r}")


def audited(engine: Engine, action: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM audit_event WHERE action = :a"), {"a": action}
        ).scalar_one()


def run_wrk(
    port: int, path: str, cookies: list[str], args: argparse.Namespace, folder: Path
) -> tuple[str, list[int]]:
    script = folder / "resident.lua"
    script.write_text(WRK_SCRIPT % {"cookies": ", ".join(f'"{c}"' for c in cookies), "path": path})
    shown = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            # a slow answer is counted in the latencies, not dropped as wrk's default 2 s
            # timeout would (wrk leaves timed-out requests out of its percentiles)
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    summary = re.search(r"^EP-SUMMARY (.*)$", shown, re.M)
    if summary is None:
        raise SystemExit(f"wrk printed no summary:\n{shown}")
    return shown, [int(n) for n in summary.group(1).split()]


def cpu_seconds(master: int) -> float:
    """CPU time (user + system) the gunicorn workers of ``master`` have used so far."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def measure(database_url: str | None, args: argparse.Namespace, folder: Path) -> list[Run]:
    env, engine = make_instance(folder, database_url, args.residents, args.years)
    process, port = start("wsgi:app", {**env, **dict(args.setting or [])}, workers=args.workers)
    runs = []
    try:
        wait_ready(port)
        who = [DEMO_RESIDENT] + [personnummer(i) for i in range(args.residents - 1)]
        cookies = [log_in(port, p) for p in who]
        check_pages(port, cookies)  # also warms each worker's templates
        for path, action, _marker in PAGES:
            before = audited(engine, action)
            cpu_before = cpu_seconds(process.pid)
            shown, numbers = run_wrk(port, path, cookies, args, folder)
            time.sleep(1)  # the requests still in flight when wrk stopped finish
            cpu = cpu_seconds(process.pid) - cpu_before
            requests, duration, not_ok, connect, read, write, timeout = numbers[:7]
            p50, p90, p99, worst = (n / 1000 for n in numbers[7:])
            runs.append(
                Run(
                    page=path,
                    requests=requests,
                    seconds=duration / 1e6,
                    not_ok=not_ok,
                    socket_errors=f"{connect}/{read}/{write}/{timeout}",
                    p50=p50,
                    p90=p90,
                    p99=p99,
                    worst=worst,
                    audited=audited(engine, action) - before,
                    cpu_ms=cpu * 1000 / max(requests, 1),
                )
            )
            if args.verbose:
                print(shown)
    finally:
        process.terminate()
        process.wait(timeout=30)
        engine.dispose()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--residents", type=int, default=16)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument(
        "--database-url",
        action="append",
        help="sqlite (a file in a temporary folder, the default) or a PostgreSQL URL; "
        "may be given more than once",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (EP_WORKERS)")
    parser.add_argument(
        "--setting",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="an environment variable for the gunicorn it starts, e.g. EP_THREADS 16",
    )
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output too")
    args = parser.parse_args()

    started = os.getloadavg()
    print(
        f"{date.today()} {time.strftime('%H:%M:%S', time.gmtime())} UTC; machine: "
        f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average at start {started[0]:.2f} {started[1]:.2f} {started[2]:.2f}"
    )
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s --latency; "
        f"{args.residents} residents logged in (Tolvan: 2 years, the others {args.years} years "
        f"of quarterly results of 5 analyses)"
    )
    print(
        f"{'database':<10} {'page':<9} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'not 200':>7} {'socket c/r/w/t':>14} {'requests':>8} {'audited':>8} "
        f"{'CPU ms':>6}"
    )
    ok = True
    for url in args.database_url or ["sqlite"]:
        database_url = None if url == "sqlite" else url
        name = "sqlite" if database_url is None else make_url(database_url).get_backend_name()
        with tempfile.TemporaryDirectory(prefix="ep-bench-") as folder:
            for run in measure(database_url, args, Path(folder)):
                in_flight = run.audited - run.requests
                audit_ok = 0 <= in_flight <= args.connections
                met = run.p99 < 150 and run.not_ok == 0 and run.socket_errors == "0/0/0/0"
                ok = ok and met and audit_ok
                print(
                    f"{name:<10} {run.page:<9} {run.rate:7.1f} {run.p50:7.1f} {run.p90:7.1f} "
                    f"{run.p99:7.1f} {run.worst:7.1f} {run.not_ok:7d} {run.socket_errors:>14} "
                    f"{run.requests:8d} {run.audited:8d} {run.cpu_ms:6.1f}"
                    + ("" if audit_ok else "  <- audit events do not match the requests")
                )
    ended = os.getloadavg()
    print(f"load average at end {ended[0]:.2f} {ended[1]:.2f} {ended[2]:.2f}")
    print(
        "goal (p99 < 150 ms, no errors, one audit event per view): " + ("met" if ok else "NOT met")
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
