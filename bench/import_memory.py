"""Benchmark IMPORTRESULTS' peak memory on hostile inboxes: the goal is under 300 MB.

    .venv/bin/python bench/import_memory.py [--database URL] [--record]

Each inbox is imported by the real `ep batch import-results` in a process of its own;
the peak resident set size (ru_maxrss) is that of the largest process of the run, the
batch or one of its reader processes. The inboxes (issue 11, "Unbounded memory"):

- nte-10mb:   one 10 MB HL7 file of 1,000,000 NTE segments (took 2.35 GB and 50 s before)
- nte-limit:  the same with LabMaxFileBytes raised to 16 MB, so the segment limit refuses it
- near-limit: 40 files of just under LabMaxFileBytes (5 MB), each of 9,000 segments
- many-1mb:   300 files of 1 MB (the read-ahead reader processes at work)
- sparse-1gb: one 1 GB file (sparse: no disk used), refused unread

Without --database a SQLite file in a temporary folder is used; a PostgreSQL URL must
name an empty scratch database (its schema is dropped and migrated).
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_results import prepare  # noqa: E402
from bench.process import environment, run_measured  # noqa: E402
from tests.support import EP_COMMAND  # noqa: E402

GOAL_MB = 300
MB = 1024 * 1024


def _big(body: str, *, lines: int, line_bytes: int) -> bytes:
    """``body`` with ``lines`` NTE comment segments of about ``line_bytes`` each."""
    nte = "NTE|1|L|" + "x" * max(line_bytes - 9, 1) + "\r"
    return (body + nte * lines).encode()


def inboxes() -> dict[str, tuple[dict, callable]]:
    """Name → (settings, how to fill the inbox from the prepared message bodies)."""

    def nte_10mb(texts):
        return [_big(texts[0], lines=1_000_000, line_bytes=10)]

    def near_limit(texts):
        return [_big(t, lines=9_000, line_bytes=5 * MB // 9_000 - 20) for t in texts[:40]]

    def many_1mb(texts):
        return [_big(t, lines=1_000, line_bytes=MB // 1_000 - 2) for t in texts[:300]]

    return {
        "nte-10mb": ({}, nte_10mb),
        "nte-limit": ({"LabMaxFileBytes": str(16 * MB)}, nte_10mb),
        "near-limit": ({}, near_limit),
        "many-1mb": ({}, many_1mb),
        "sparse-1gb": ({}, None),
    }


def measure(database_url: str, name: str, settings: dict, fill) -> dict:
    with tempfile.TemporaryDirectory(prefix="ep-bench-memory-") as tmp:
        folder = Path(tmp)
        _, config, texts = prepare(database_url, folder, 300)
        inbox = config.path_of("LabInboxDirectory")
        for path in inbox.iterdir():
            path.unlink()  # the prepared small messages: only this inbox's files count
        settled = time.time() - 60
        files = fill(texts) if fill else []
        for index, data in enumerate(files):
            (inbox / f"{name}-{index:04d}.hl7").write_bytes(data)
        if fill is None:
            with open(inbox / "sparse.hl7", "wb") as stream:
                stream.write(texts[0].encode())
                stream.truncate(1024 * MB)
        for path in inbox.iterdir():
            os.utime(path, (settled, settled))
        inbox_bytes = sum(p.stat().st_size for p in inbox.iterdir())
        env = environment(folder / "ep.ini", **settings)
        # a process of its own, so ru_maxrss is this run's alone
        done = run_measured([EP_COMMAND, "batch", "import-results"], env)
        if done.returncode != 0:
            raise SystemExit(f"{name}: the run failed:\n{done.stdout}\n{done.stderr}")
        summary = next(line for line in done.stdout.splitlines() if " items (" in line)
    return {
        "inbox": name,
        "files": max(len(files), 1),
        "inbox_mb": inbox_bytes / MB,
        "peak_mb": done.peak_rss_mb,
        "seconds": done.seconds,
        "summary": summary.strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a scratch PostgreSQL URL (default: SQLite)")
    parser.add_argument("--only", help="one inbox by name")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    lines = []
    for name, (settings, fill) in inboxes().items():
        if args.only and name != args.only:
            continue
        with tempfile.TemporaryDirectory(prefix="ep-bench-db-") as tmp:
            url = args.database or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
            kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
            figures = measure(url, name, settings, fill)
        load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
        verdict = "meets" if figures["peak_mb"] < GOAL_MB else "MISSES"
        line = (
            f"| {date.today()} | {kind} | {name} | {figures['files']:,} files, "
            f"{figures['inbox_mb']:,.0f} MB | {figures['peak_mb']:,.0f} MB ({verdict} < "
            f"{GOAL_MB} MB) | {figures['seconds']:.1f} s | {figures['summary']} | {load} |"
        )
        print(line, flush=True)
        lines.append(line)
    if args.record:
        record(lines)


HEADING = "## IMPORTRESULTS peak memory (bench/import_memory.py)"
TABLE_HEAD = (
    "| date | database | inbox | size | peak RSS | wall clock | run | load average |\n"
    "|---|---|---|---|---|---|---|---|"
)


def record(lines: list[str]) -> None:
    """Append the figures under this benchmark's own heading in bench/RESULTS.md."""
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    if HEADING not in text:
        text += (
            f"\n{HEADING}\n\nGoal (issue 11): peak RSS of IMPORTRESULTS under {GOAL_MB} MB "
            f"whatever the inbox holds.\nMachine: {os.cpu_count()} cores, "
            f"{platform.machine()}, Python {platform.python_version()}.\n\n{TABLE_HEAD}\n"
        )
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
