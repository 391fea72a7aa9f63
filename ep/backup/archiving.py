"""Is PostgreSQL's continuous WAL archiving (pgBackRest's archive-push) keeping up?

Point-in-time recovery is only as good as the archive: a WAL segment that never reached it
is a gap no restore can cross. PostgreSQL counts each archive_command success and failure
in ``pg_stat_archiver``; when WalArchivingExpected is set, the health check reads it here.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ep.texts import Code, Text, msg

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
) -> tuple[bool, Text]:
    """Return (ok, message) for one reading: archiving off, failing or behind is not ok.

    The message is for the health check (ep.texts: the reader's language on the operator
    pages, English for `ep check`); its times are Stockholm's, with the offset.
    """
    if stats.archive_mode == "off":
        return False, msg(
            "WAL-arkivering förväntas men %(setting)s är %(value)s.",
            setting=Code("archive_mode"),
            value=Code("off"),
        )
    if stats.current_wal is None:
        return True, msg("Den här servern är en standby; primärservern arkiverar WAL.")
    last_ok = stats.last_archived_time
    if stats.last_failed_time is not None and (last_ok is None or stats.last_failed_time > last_ok):
        return False, msg(
            "WAL-arkiveringen misslyckas: %(failures)s misslyckanden, det senaste %(when)s "
            "för %(wal)s. Kontrollera %(command)s och pgBackRests arkiv.",
            failures=stats.failed_count,
            when=stats.last_failed_time,
            wal=Code(stats.last_failed_wal or "?"),
            command=Code("archive_command"),
        )
    if stats.last_archived_wal is None or last_ok is None:  # PostgreSQL sets both at once
        return True, msg("WAL-arkiveringen är på; inget segment är färdigt än.")
    # the segment being written is never archived yet; anything older waiting is backlog
    waiting = (
        segments_between(
            stats.last_archived_wal, stats.current_wal, segment_bytes=stats.segment_bytes
        )
        - 1
    )
    age = now - last_ok
    if waiting > 0 and age > timedelta(minutes=warn_after_minutes):
        return False, msg(
            "WAL-arkiveringen ligger efter: %(waiting)s segment väntar, det senaste arkiverades "
            "för %(minutes)s minuter sedan (varnar efter %(limit)s).",
            waiting=waiting,
            minutes=int(age.total_seconds() // 60),
            limit=warn_after_minutes,
        )
    return True, msg(
        "WAL-arkiveringen fungerar: senaste segmentet %(wal)s %(when)s, %(waiting)s väntar.",
        wal=Code(stats.last_archived_wal),
        when=last_ok,
        waiting=max(waiting, 0),
    )


def check_wal_archiving(
    connection: Connection, *, now: datetime, warn_after_minutes: int
) -> tuple[bool, Text]:
    """Read pg_stat_archiver on ``connection`` and judge it: (ok, message)."""
    return judge_archiving(
        read_archiver(connection), now=now, warn_after_minutes=warn_after_minutes
    )
