"""Is PostgreSQL's continuous WAL archiving (pgBackRest's archive-push) keeping up?

Point-in-time recovery is only as good as the archive: a WAL segment that never reached it
is a gap no restore can cross. PostgreSQL counts each archive_command success and failure
in ``pg_stat_archiver``; when WalArchivingExpected is set, the health check reads it here.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ep.timeutil import as_utc

READ_ARCHIVER = text(
    """
    SELECT current_setting('archive_mode') AS archive_mode,
           a.archived_count, a.last_archived_wal, a.last_archived_time,
           a.failed_count, a.last_failed_wal, a.last_failed_time,
           CASE WHEN pg_is_in_recovery() THEN NULL
                ELSE pg_walfile_name(pg_current_wal_lsn()) END AS current_wal,
           pg_size_bytes(current_setting('wal_segment_size')) AS segment_bytes
    FROM pg_stat_archiver AS a
    """
)


@dataclass(frozen=True)
class ArchiverStats:
    """One reading of pg_stat_archiver and of where WAL is being written now."""

    archive_mode: str
    archived_count: int
    last_archived_wal: str | None
    last_archived_time: datetime | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: datetime | None
    current_wal: str | None  # None on a standby, which archives nothing itself
    segment_bytes: int = 16 * 1024 * 1024


def read_archiver(connection: Connection) -> ArchiverStats:
    """Read pg_stat_archiver (any role may; pg_monitor is not needed)."""
    return ArchiverStats(**connection.execute(READ_ARCHIVER).mappings().one())


def segments_between(older: str, newer: str, *, segment_bytes: int) -> int:
    """Return how many WAL segments ``newer`` lies after ``older`` (same numbering).

    A WAL file name is timeline, log and segment, eight hex digits each; a log holds
    4 GiB worth of segments.
    """
    per_log = 0x1_0000_0000 // segment_bytes

    def number(name: str) -> int:
        return int(name[8:16], 16) * per_log + int(name[16:24], 16)

    return number(newer) - number(older)


def judge_archiving(
    stats: ArchiverStats, *, now: datetime, warn_after_minutes: int
) -> tuple[bool, str]:
    """Return (ok, message) for one reading: archiving off, failing or behind is not ok."""
    if stats.archive_mode == "off":
        return False, "WAL archiving is expected but archive_mode is off."
    if stats.current_wal is None:
        return True, "This server is a standby; the primary archives WAL."
    last_ok = stats.last_archived_time
    if stats.last_failed_time is not None and (last_ok is None or stats.last_failed_time > last_ok):
        return False, (
            f"WAL archiving fails: {stats.failed_count} failures, the latest at "
            f"{as_utc(stats.last_failed_time):%Y-%m-%d %H:%M:%S %Z} for {stats.last_failed_wal}. "
            "Check archive_command and the pgBackRest repository."
        )
    if stats.last_archived_wal is None or last_ok is None:  # PostgreSQL sets both at once
        return True, "WAL archiving is on; no segment has been completed yet."
    # the segment being written is never archived yet; anything older waiting is backlog
    waiting = (
        segments_between(
            stats.last_archived_wal, stats.current_wal, segment_bytes=stats.segment_bytes
        )
        - 1
    )
    age = now - last_ok
    if waiting > 0 and age > timedelta(minutes=warn_after_minutes):
        return False, (
            f"WAL archiving is behind: {waiting} segments wait, the last was archived "
            f"{int(age.total_seconds() // 60)} minutes ago (warn after {warn_after_minutes})."
        )
    return True, (
        f"WAL archiving works: last segment {stats.last_archived_wal} at "
        f"{as_utc(last_ok):%Y-%m-%d %H:%M:%S %Z}, {max(waiting, 0)} waiting."
    )


def check_wal_archiving(
    connection: Connection, *, now: datetime, warn_after_minutes: int
) -> tuple[bool, str]:
    """Read pg_stat_archiver on ``connection`` and judge it: (ok, message)."""
    return judge_archiving(
        read_archiver(connection), now=now, warn_after_minutes=warn_after_minutes
    )
