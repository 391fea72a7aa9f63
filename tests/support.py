"""Helpers the tests share: the test database, instances and the real `ep` command."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from ep.instance import write_ini

EP_COMMAND = str(Path(sys.executable).with_name("ep"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
ROOT = Path(__file__).resolve().parent.parent
# ids and page numbers no database integer holds: just past PostgreSQL's, past SQLite's,
# and more digits than Python's int() reads from text
HUGE_IDS = ("2147483648", "99999999999999999999", "9" * 5000)


def test_database_url(sqlite_path: Path) -> str:
    """EP_TEST_DATABASE_URL (PostgreSQL in CI) or a SQLite file."""
    return os.environ.get("EP_TEST_DATABASE_URL") or f"sqlite:///{sqlite_path}"


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def reset_schema(url: str) -> None:
    """Drop everything in the test database, so migrations start from nothing."""
    if is_postgres(url):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def empty_tables(engine: Engine, metadata) -> None:
    """Delete every row the previous test left, keeping the migrated schema."""
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # TRUNCATE bypasses the audit table's row triggers, as only a superuser may
            quoted = ", ".join(f'"{name}"' for name in tables)
            conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))


def make_instance(folder: Path, database_url: str, **values: str) -> Path:
    """Write an instance folder with ep.ini for ``database_url``; return the ini path."""
    path = folder / "ep.ini"
    path.unlink(missing_ok=True)
    # header login needs its source named (the test client is 127.0.0.1) when a test picks it
    values.setdefault("CitizenIdentityProxies", "127.0.0.1")
    # the production default (oidc) needs an identity provider; tests ask for it by name
    values.setdefault("CitizenLogin", "dev")
    write_ini(path, values=values, database_url=database_url)
    for sub in ("inbox", "outbox/notifications", "outbox/ack"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return path


def run_ep(
    *args: str,
    config: Path,
    env: dict | None = None,
    timeout: float = 60,
    python_options: tuple[str, ...] = (),
    **kwargs,
):
    """Run the real `ep` command against the instance of ``config``; with
    ``python_options`` its script runs in this Python with those options."""
    if os.environ.get("EP_TEST_CLOCK"):
        # the test's clock (tests/conftest.py test_clock) moves this process only: an `ep`
        # started now would live at another time than the data the test made for it
        pytest.skip("runs `ep` in another process, which EP_TEST_CLOCK does not move")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    full_env.update({"EP_CONFIG": str(config), **(env or {})})
    return subprocess.run(
        [sys.executable, *python_options, EP_COMMAND, *args]
        if python_options
        else [EP_COMMAND, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def start_gunicorn(config: Path, *, output=subprocess.DEVNULL, **settings: str):
    """The real gunicorn with the shipped deploy/gunicorn.conf.py, serving ``config`` on a
    free loopback port; ``settings`` as EP_<name> (e.g. WORKERS="1"). The socket is made
    here and handed over, so no other process can take the port in between.
    Returns (the process, its port); the caller stops the process."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    env.update({f"EP_{name}": value for name, value in settings.items()})
    env.update(EP_CONFIG=str(config), EP_BIND=f"fd://{listener.fileno()}")
    process = subprocess.Popen(
        [GUNICORN, "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        pass_fds=[listener.fileno()],
    )
    listener.close()  # gunicorn holds its own copy
    return process, port


def gone_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


class Writer:
    """Another connection to ``url`` that commits a small write every millisecond, as a
    batch does beside the pages (``with Writer(url, person_id): …``)."""

    def __init__(self, url: str, person_id: int):
        self.engine = create_engine(url)
        self.person_id = person_id
        self.stop = threading.Event()
        self.writes = 0
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.engine.begin() as connection:
                connection.execute(
                    text("UPDATE person SET language = language WHERE id = :id"),
                    {"id": self.person_id},
                )
            self.writes += 1
            time.sleep(0.001)

    def __enter__(self) -> "Writer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)
        self.engine.dispose()
        assert self.writes > 0, "the writer never wrote beside the pages"
