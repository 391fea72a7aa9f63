"""What the web keeps between requests: server-side sessions and rate-limit counters.

Both live in EP's own database so every gunicorn worker and every web host sees the same
state (nothing in a worker's memory or a host's files).
"""

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ep.models.base import Base


class WebSession(Base):
    """One browser session. The cookie carries a random token; only its hash is stored,
    so a copy of the table logs nobody in."""

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime]
    # the removal of idle sessions (ep.web.sessions) looks them up by this
    last_seen_at: Mapped[datetime] = mapped_column(index=True)


class RateLimitCounter(Base):
    """A fixed-window counter of the rate limits (ep.web.ratelimit), one row per key."""

    __tablename__ = "rate_limit_counter"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int]
    # the removal of finished windows looks them up by this
    expires_at: Mapped[datetime] = mapped_column(index=True)
