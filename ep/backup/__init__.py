"""Backups that are consistent while EP serves and batches run, and restores that check them.

A backup is a folder ``ep-backup-<UTC time>/`` holding the database copy and
``manifest.json``: EP version, schema revision, the row count of every table and the
SHA-256 of the copy. SQLite is copied with ``VACUUM INTO`` — one read transaction, so the
copy is the database as of one moment, everything committed in the WAL included (a file
copy misses what is not yet checkpointed). PostgreSQL is dumped by ``pg_dump`` in custom
format inside an exported snapshot, and the row counts are taken in that same snapshot,
so the manifest describes exactly the rows in the dump.

A restore goes only into a database without tables, checks the checksum, loads the copy,
compares every table's rows with the manifest, and leaves the schema upgrade to the caller
(``ep db restore`` runs the migrations and then the health check).
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select, table, text
from sqlalchemy.engine import URL, Connection, Engine

from ep.timeutil import as_utc

MANIFEST = "manifest.json"
PREFIX = "ep-backup-"
DATA_FILES = {"sqlite": "ep.sqlite", "postgresql": "ep.dump"}
PG_BIN_DIRECTORY = "/usr/lib/postgresql/{major}/bin"  # Debian keeps each major's tools here
HASH_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot be done, worded as the one line the operator sees."""


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, written beside it as manifest.json."""

    ep_version: str
    schema_revision: str | None
    database: str  # "sqlite" or "postgresql"
    created_at: str  # ISO 8601, UTC
    data_file: str
    sha256: str
    size_bytes: int
    tables: dict[str, int]
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def summary(self, folder: Path) -> str:
        """The line the operator sees once the backup in ``folder`` is written."""
        return (
            f"backed up {self.rows} rows in {len(self.tables)} tables, "
            f"{self.size_bytes / 1e6:.1f} MB, schema {self.schema_revision}, "
            f"in {self.seconds:.1f} s: {folder}"
        )

    def write(self, folder: Path) -> None:
        text_ = json.dumps(asdict(self), indent=2, sort_keys=True)
        (folder / MANIFEST).write_text(text_ + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> "Manifest":
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError:
            raise BackupError(f"{folder}: no {MANIFEST} (not an EP backup)") from None
        except (ValueError, TypeError) as exc:
            raise BackupError(f"{path}: not a readable manifest: {exc}") from None


Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def ep_version() -> str:
    try:
        return version("ep")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _engine(engine_or_url: Engine | str) -> tuple[Engine, bool]:
    if isinstance(engine_or_url, Engine):
        return engine_or_url, False
    return create_engine(engine_or_url), True


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def table_rows(connection: Connection) -> dict[str, int]:
    """Return the row count of every table the database holds (alembic_version included)."""
    names = sorted(inspect(connection).get_table_names())
    return {
        name: connection.execute(select(func.count()).select_from(table(name))).scalar_one()
        for name in names
    }


def schema_revision(connection: Connection) -> str | None:
    """Return the Alembic revision the database is at, None without one."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def make_backup(
    engine_or_url: Engine | str,
    *,
    folder: Path,
    now: datetime,
    progress: Progress = _quiet,
) -> tuple[Path, Manifest]:
    """Back up the database into a new folder under ``folder``; return it and its manifest.

    Safe while EP serves and batches commit: the copy is one consistent moment. The folder
    is written under a hidden name and renamed when complete, so a backup that broke off
    is never mistaken for one (nor counted by ``prune_backups``).
    """
    engine, owned = _engine(engine_or_url)
    started = time.monotonic()
    stamp = as_utc(now).strftime("%Y%m%dT%H%M%SZ")
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{PREFIX}{stamp}"
    if final.exists():
        raise BackupError(f"{final} exists already (one backup per second)")
    partial = folder / f".{PREFIX}{stamp}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    kind = engine.dialect.name
    data_path = partial / DATA_FILES[kind]
    try:
        progress(f"copying the {kind} database")
        if kind == "sqlite":
            tables, revision = _backup_sqlite(engine, data_path)
        else:
            tables, revision = _backup_postgresql(engine, data_path)
        progress("computing the checksum")
        manifest = Manifest(
            ep_version=ep_version(),
            schema_revision=revision,
            database=kind,
            created_at=as_utc(now).isoformat(),
            data_file=data_path.name,
            sha256=sha256_of(data_path),
            size_bytes=data_path.stat().st_size,
            tables=tables,
            seconds=round(time.monotonic() - started, 2),
        )
        manifest.write(partial)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        if owned:
            engine.dispose()
    progress(f"backup written: {final}")
    return final, manifest


def _backup_sqlite(engine: Engine, target: Path) -> tuple[dict[str, int], str | None]:
    raw = engine.raw_connection()
    try:
        # VACUUM INTO reads in one transaction: a snapshot that includes what is still
        # only in the WAL, while writers go on committing beside it
        assert raw.driver_connection is not None  # a live connection from the pool
        raw.driver_connection.execute("VACUUM INTO ?", (str(target),))
    finally:
        raw.close()
    # count in the copy itself, so the manifest describes exactly what was copied
    copy = create_engine(f"sqlite:///{target}")
    try:
        with copy.connect() as connection:
            return table_rows(connection), schema_revision(connection)
    finally:
        copy.dispose()


def _backup_postgresql(engine: Engine, target: Path) -> tuple[dict[str, int], str | None]:
    with engine.connect() as connection:
        server_major = connection.execute(text("SHOW server_version_num")).scalar_one()
        pg_dump = pg_tool("pg_dump", int(server_major) // 10000)
        # one snapshot for the counts and the dump: the manifest then matches the dump row
        # for row, however many orders are committed meanwhile
        connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        tables = table_rows(connection)
        revision = schema_revision(connection)
        _run(
            [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}"],
            engine.url,
        )
        connection.rollback()
    return tables, revision


def pg_tool(name: str, server_major: int) -> str:
    """Return the path of pg_dump or pg_restore at least as new as the server.

    An older pg_dump refuses a newer server, and a dump made by a newer one may not load
    with an older pg_restore: Debian's versioned folder for the server's major version
    first, then PATH.
    """
    candidates = [Path(PG_BIN_DIRECTORY.format(major=server_major)) / name]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and _tool_major(candidate) >= server_major:
            return str(candidate)
    raise BackupError(
        f"no {name} of PostgreSQL {server_major} or newer found "
        f"(install postgresql-client-{server_major})"
    )


def _tool_major(path: Path) -> int:
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True).stdout
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else 0


def _run(command: list[str], url: URL) -> None:
    """Run a PostgreSQL client tool against ``url``; the password goes by environment."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    libpq = url.set(drivername="postgresql", password=None)
    conninfo = libpq.render_as_string(hide_password=False)
    done = subprocess.run(
        [*command, f"--dbname={conninfo}"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[:500]
        raise BackupError(f"{Path(command[0]).name} failed: {detail}")


def back_up_and_prune(
    engine_or_url: Engine | str,
    *,
    folder: Path,
    keep: int,
    now: datetime,
    progress: Progress = _quiet,
) -> tuple[Path, Manifest, list[Path]]:
    """Write a new backup, then keep only the newest ``keep``: what BACKUP does each night.

    Returns the new backup's folder, its manifest and the folders deleted. Old backups go
    only once the new one is complete, so a failed backup never costs an older one.
    """
    path, manifest = make_backup(engine_or_url, folder=folder, now=now, progress=progress)
    return path, manifest, prune_backups(folder, keep=keep)


def prune_backups(folder: Path, *, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` complete backups in ``folder``; return those deleted.

    Only folders that hold a manifest count, so a half-written or foreign folder is never
    taken for a backup and never deleted.
    """
    backups = list_backups(folder)
    doomed = backups[:-keep] if keep > 0 else backups
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def list_backups(folder: Path) -> list[Path]:
    """Return the complete backups in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_dir() and path.name.startswith(PREFIX) and (path / MANIFEST).is_file()
    )


# -- restore --


def verify_backup(path: Path) -> tuple[Path, Manifest]:
    """Read the backup at ``path`` (its folder or manifest) and check its checksum."""
    folder = path.parent if path.name == MANIFEST else path
    if not folder.is_dir():
        raise BackupError(f"{path}: no such backup folder")
    manifest = Manifest.read(folder)
    data = folder / manifest.data_file
    if not data.is_file():
        raise BackupError(f"{data}: the database copy is missing")
    if sha256_of(data) != manifest.sha256:
        raise BackupError(f"{data}: checksum does not match the manifest (damaged copy)")
    return folder, manifest


def refuse_unless_empty(engine: Engine) -> None:
    """Raise BackupError when the target database holds any table, above all one with rows."""
    with engine.connect() as connection:
        rows = table_rows(connection)
    holding = {name: n for name, n in rows.items() if n and name != "alembic_version"}
    if holding:
        largest = sorted(holding.items(), key=lambda item: (-item[1], item[0]))[:5]
        listed = ", ".join(f"{name} ({n} rows)" for name, n in largest)
        raise BackupError(
            f"the target database holds data: {listed}; restore only into an empty database"
        )
    if rows:
        raise BackupError(
            f"the target database has {len(rows)} tables already; restore only into a "
            "database without tables (a new SQLite file, or a newly created PostgreSQL database)"
        )


def restore_backup(
    engine: Engine, folder: Path, manifest: Manifest, *, progress: Progress = _quiet
) -> dict[str, int]:
    """Load a verified backup into the empty database of ``engine``; return its row counts.

    Raises BackupError when the database is not empty, is of another kind than the backup,
    or when any table's rows differ from the manifest after loading.
    """
    kind = engine.dialect.name
    if kind != manifest.database:
        raise BackupError(f"the backup is of a {manifest.database} database; the target is {kind}")
    refuse_unless_empty(engine)
    data = folder / manifest.data_file
    progress(f"loading {data}")
    if kind == "sqlite":
        _restore_sqlite(engine, data)
    else:
        _restore_postgresql(engine, data)
    engine.dispose()  # connections opened before the load may cache the empty schema
    with engine.connect() as connection:
        restored = table_rows(connection)
    if restored != manifest.tables:
        differing = sorted(
            name
            for name in set(restored) | set(manifest.tables)
            if restored.get(name) != manifest.tables.get(name)
        )
        raise BackupError(f"restored rows differ from the manifest in: {', '.join(differing)}")
    progress(f"checked {sum(restored.values())} rows in {len(restored)} tables")
    return restored


def _restore_sqlite(engine: Engine, data: Path) -> None:
    source = sqlite3.connect(f"file:{data}?mode=ro", uri=True)
    raw = engine.raw_connection()
    try:
        # the backup API writes through the target's own journal: a reader sees the
        # empty database or the whole copy, never half of it
        assert raw.driver_connection is not None  # a live connection from the pool
        source.backup(raw.driver_connection)
    finally:
        raw.close()
        source.close()


def _restore_postgresql(engine: Engine, data: Path) -> None:
    with engine.connect() as connection:
        server_major = connection.execute(text("SHOW server_version_num")).scalar_one()
    pg_restore = pg_tool("pg_restore", int(server_major) // 10000)
    # one transaction: a failed restore leaves the database as empty as it was
    _run(
        [pg_restore, "--no-owner", "--exit-on-error", "--single-transaction", str(data)], engine.url
    )
