"""Benchmark: `ep db backup` and `ep db restore` on the demo database and on 1,000,000 orders.

    .venv/bin/python bench/backup_restore.py [--rows 1000000]
        [--database-urls SOURCE_URL TARGET_URL]   # two PostgreSQL databases; default SQLite

Each size is an `ep init --demo` instance; the big one gets ``--rows`` orders and as many
BatchRun rows (bench/healthcheck.py's set-based INSERT … SELECT). The real commands run
as an operator runs them: the wall time of `ep db backup`, and of `ep db restore` into an
empty database (checksum, load, every table's rows compared with the manifest, health
check). "rows checked" is the manifest's total, all of which the restore compared.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from healthcheck import BIN, add_history, make_instance  # noqa: E402

from ep.backup import Manifest, list_backups  # noqa: E402
from tests.support import reset_schema  # noqa: E402


def timed(command: list[str], env: dict) -> float:
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)}: {done.stdout}{done.stderr}")
    return time.monotonic() - started


def measure(name: str, folder: Path, source_url: str | None, target_url: str | None, rows: int):
    if source_url:
        reset_schema(source_url)
    env, _certs, engine = make_instance(folder / "source", source_url)
    if rows:
        add_history(engine, rows)
    with engine.connect() as conn:
        orders = conn.execute(text('SELECT count(*) FROM "order"')).scalar_one()
    engine.dispose()
    backup_seconds = timed([str(BIN / "ep"), "db", "backup"], env)
    (backup,) = list_backups(folder / "source" / "instance" / "backups")
    manifest = Manifest.read(backup)

    target = folder / "target" / "instance"
    target.mkdir(parents=True)
    (target / "ep.ini").write_text(
        (folder / "source" / "instance" / "ep.ini").read_text(), encoding="utf-8"
    )
    target_env = {**env, "EP_CONFIG": str(target / "ep.ini")}
    if target_url:
        reset_schema(target_url)
        target_env["EP_DATABASE_URL"] = target_url
    else:
        target_env.pop("EP_DATABASE_URL", None)
    for sub in ("certs",):
        os.symlink(folder / "source" / "instance" / sub, target / sub)
    restore_seconds = timed([str(BIN / "ep"), "db", "restore", str(backup)], target_env)
    print(
        f"| {name} | {manifest.database} | {orders:,} | {manifest.size_bytes / 1e6:,.1f} MB "
        f"| {backup_seconds:.1f} s (copy {manifest.seconds:.1f} s) | {restore_seconds:.1f} s "
        f"| {manifest.rows:,} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-urls", nargs=2, metavar=("SOURCE_URL", "TARGET_URL"))
    args = parser.parse_args()
    source, target = args.database_urls or (None, None)
    print(
        f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print("| database | kind | orders | size | `ep db backup` | `ep db restore` | rows checked |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in (("demo", 0), (f"{args.rows:,} orders", args.rows)):
        folder = Path(tempfile.mkdtemp(prefix="ep-bench-backup-"))
        measure(name, folder, source, target, rows)
        subprocess.run(["rm", "-rf", str(folder)])
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
