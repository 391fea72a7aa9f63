"""Where one HealthCheckStatus request in header mode spends its time, in one process.

    .venv/bin/python bench/healthcheck_profile.py [--requests 2000] [--database-url URL]

The WSGI app is called directly (no server, no test client), with the demo operator's
certificate in X-SSL-Client-Cert from 127.0.0.1, as nginx sends it. Prints the CPU time
per request of EP and of the bare route (bench/bare_app.py) called the same way, then
the shares of one request under cProfile. No lock needed: one process, one core
(COMMON.md); the CPU times are process time, so other load on the machine moves them
less than it moves wall-clock figures. Without --database-url, a SQLite file in a
temporary folder; a PostgreSQL URL is used as it is (its batch runs and orders stay).
"""

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path

from bare_app import app as bare_app  # bench/, the script's own folder
from healthcheck import PATH, certificate_header, make_instance
from werkzeug.test import EnvironBuilder

from ep import create_app

# (label, function whose cumulative time is shown): the parts of one request
PARTS = (
    ("authorize: certificate, role query, cache file", "ep/web/access.py", "authorize"),
    ("  the role query (_user_with_role)", "ep/web/access.py", "_user_with_role"),
    ("health checks (evaluate)", "ep/healthcheck/checks.py", "evaluate"),
    ("  database check (the timed first read)", "ep/healthcheck/checks.py", "check_database"),
    ("  the other reads and their checks", "ep/healthcheck/checks.py", "_database_checks"),
    ("    the batches' checks", "ep/healthcheck/checks.py", "batch_checks"),
    ("  certificate files' expiry", "ep/healthcheck/checks.py", "check_expiry"),
    ("before_request hooks (authorize included)", "flask/app.py", "preprocess_request"),
    ("after_request hooks", "flask/app.py", "process_response"),
    ("request context: push (session open, routing)", "flask/ctx.py", "push"),
    ("request context: pop (teardown, connection back)", "flask/ctx.py", "pop"),
)


def caller(app, environ: dict):
    def call() -> bytes:
        return b"".join(app(dict(environ), lambda status, headers, exc_info=None: None))

    return call


def cpu_ms(call, requests: int) -> float:
    """The median CPU milliseconds per call over five runs of ``requests`` calls."""
    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(requests):
            call()
        runs.append((time.process_time() - started) / requests * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ep-profile-"))
    env, certs, _engine = make_instance(folder, args.database_url)
    for name in [name for name in os.environ if name.startswith("EP_")]:
        del os.environ[name]
    os.environ.update({k: v for k, v in env.items() if k.startswith("EP_")})
    os.environ["EP_ClientCertificateSource"] = "header"
    app = create_app()  # EP_CONFIG and the overrides, as just set
    name, value = certificate_header(certs).split(": ", 1)
    environ = EnvironBuilder(
        path=PATH, headers={name: value}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    ).get_environ()
    health, bare = caller(app, environ), caller(bare_app, environ)
    if health() != b"OK":
        raise SystemExit("HealthCheckStatus did not answer OK")
    for _ in range(200):  # warm: pools, caches, compiled statements
        health(), bare()

    ep_ms, bare_ms = cpu_ms(health, args.requests // 5), cpu_ms(bare, args.requests // 5)
    print(f"database: {app.extensions['ep_operator_engine'].dialect.name}")
    print(f"CPU per request: HealthCheckStatus {ep_ms:.3f} ms, bare route {bare_ms:.3f} ms")

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.requests):
        health()
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]

    def cumulative(path: str, function: str) -> float:
        return sum(
            value[3]
            for (file, _line, named), value in stats.items()
            if named == function and file.endswith(path)
        )

    whole = cumulative("flask/app.py", "wsgi_app")
    print(f"shares of one request under cProfile ({args.requests} requests):")
    for label, path, function in PARTS:
        print(f"  {label:52} {cumulative(path, function) / whole:6.1%}")


if __name__ == "__main__":
    main()
