"""One clock for EP: UTC-aware everywhere, Europe/Stockholm only for display."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive value is refused rather than guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: EP stores only timezone-aware times")
    return value.astimezone(UTC)


def local(value: datetime) -> datetime:
    """Return ``value`` in Europe/Stockholm, for display."""
    return as_utc(value).astimezone(STOCKHOLM)


def format_local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format a UTC time as Stockholm wall-clock time; empty for None."""
    return "" if value is None else local(value).strftime(fmt)
