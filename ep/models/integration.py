"""What the integration side keeps: answers to Idempotency-Keys, and the MLLP listeners."""

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ep.models.base import Base
from ep.timeutil import utcnow


class ApiIdempotency(Base):
    """The answer given to one Idempotency-Key of one calling system, to give again.

    Written in the same transaction as the change the request made, so a repeat after a
    lost answer (or a crash between commit and answer) gets the same answer, and the
    change is not made twice.
    """

    __tablename__ = "api_idempotency"
    __table_args__ = (
        # the lookup of every POST that carries a key
        UniqueConstraint("client_hsa_id", "key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_hsa_id: Mapped[str] = mapped_column(String(31))
    key: Mapped[str] = mapped_column(String(255))
    # the method, path and body the key was first used for: another request with the
    # same key is the caller's mistake, not a repeat
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class MllpListener(Base):
    """One `ep mllp serve` listener: since when it listens, and its last message.

    The health check reads this table (one row per host and address) rather than the
    lab messages, so its cost does not grow with traffic.
    """

    __tablename__ = "mllp_listener"
    __table_args__ = (UniqueConstraint("hostname", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(300))  # host:port as bound
    pid: Mapped[int] = mapped_column(Integer)
    listening_since: Mapped[datetime | None]  # None once it has stopped
    stopped_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]
    messages: Mapped[int] = mapped_column(Integer, default=0)  # since it started
