"""The WAL-archiving check: pg_stat_archiver judged as OK, failing, behind or off."""

from datetime import UTC, datetime, timedelta

import pytest

from ep.backup.archiving import ArchiverStats, judge_archiving, segments_between
from ep.texts import english

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def stats(**changes) -> ArchiverStats:
    healthy = dict(
        archive_mode="on",
        archived_count=120,
        last_archived_wal="000000010000000A000000FE",
        last_archived_time=NOW - timedelta(minutes=3),
        failed_count=0,
        last_failed_wal=None,
        last_failed_time=None,
        current_wal="000000010000000A000000FF",
    )
    return ArchiverStats(**{**healthy, **changes})


def judge(reading):
    """The verdict and its message as `ep check` gives it."""
    ok, message = judge_archiving(reading, now=NOW, warn_after_minutes=60)
    return ok, english(message)


def test_archiving_that_keeps_up_is_ok_and_says_what_was_archived_last():
    ok, message = judge(stats())
    assert ok
    assert message == (
        "WAL archiving works: last segment 000000010000000A000000FE at "
        "2026-12-01 06:57:00 +0100, 0 waiting."
    )


def test_archiving_that_failed_after_its_last_success_is_not_ok():
    ok, message = judge(
        stats(
            failed_count=7,
            last_failed_wal="000000010000000A000000FF",
            last_failed_time=NOW - timedelta(minutes=1),
        )
    )
    assert not ok
    assert message.startswith(
        "WAL archiving fails: 7 failures, the latest at 2026-12-01 06:59:00 +0100"
    )
    assert "000000010000000A000000FF" in message


def test_a_failure_that_a_later_success_cured_is_ok():
    ok, _ = judge(stats(failed_count=1, last_failed_time=NOW - timedelta(hours=2)))
    assert ok


def test_segments_waiting_longer_than_the_threshold_are_behind():
    ok, message = judge(
        stats(
            last_archived_time=NOW - timedelta(minutes=90), current_wal="000000010000000B00000003"
        )
    )
    assert not ok
    assert message == (
        "WAL archiving is behind: 4 segments wait, the last was archived 90 minutes ago "
        "(warn after 60)."
    )


def test_a_quiet_database_that_wrote_no_new_segment_is_not_behind():
    ok, _ = judge(stats(last_archived_time=NOW - timedelta(days=2)))
    assert ok


def test_archive_mode_off_is_not_ok_when_archiving_is_expected():
    ok, message = judge(stats(archive_mode="off", archived_count=0, last_archived_wal=None))
    assert (ok, message) == (False, "WAL archiving is expected but archive_mode is off.")


def test_a_standby_is_not_judged_by_its_own_archiver():
    ok, _ = judge(stats(current_wal=None))
    assert ok


@pytest.mark.parametrize(
    ("older", "newer", "between"),
    [
        ("000000010000000A000000FE", "000000010000000A000000FF", 1),
        ("000000010000000A000000FF", "000000010000000B00000000", 1),  # into the next log
        ("000000010000000A00000010", "000000010000000A00000010", 0),
    ],
)
def test_segments_are_counted_across_log_boundaries(older, newer, between):
    assert segments_between(older, newer, segment_bytes=16 * 1024 * 1024) == between
