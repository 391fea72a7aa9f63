"""Batch runs and the one-row-per-batch heartbeat the health check reads."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ep.models.base import Base

RUN_STATUSES = ("running", "succeeded", "failed")


class BatchRun(Base):
    """One run of one batch: who ran it, how it ended, what it did."""

    __tablename__ = "batch_run"
    __table_args__ = (
        # `ep batch history NAME` and the operator page: latest runs of a batch
        Index("ix_batch_run_batch_started_at", "batch", "started_at"),
        # PURGE: runs finished before the retention cutoff
        Index("ix_batch_run_finished_at", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch: Mapped[str] = mapped_column(String(40))  # NOTIFYREMINDERS …
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # running | succeeded | failed | stopped (ended without finishing: killed, taken over)
    status: Mapped[str] = mapped_column(String(10), default="running")
    dry_run: Mapped[bool] = mapped_column(default=False)
    processed: Mapped[int] = mapped_column(default=0)
    # notifications queued for sending, counted apart from what was sent (succeeded)
    queued: Mapped[int] = mapped_column(default=0, server_default="0")
    succeeded: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    error_type: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)


class BatchHeartbeat(Base):
    """The latest state of one batch, so the health check reads one row, not history.

    It also carries the batch's lock: ``running_run_id`` is the live run; a holder whose
    ``last_activity_at`` is older than the lease has died and is taken over.
    """

    __tablename__ = "batch_heartbeat"

    batch: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_activity_at: Mapped[datetime | None]
    # indexed, as every foreign key: PURGE deletes batch runs
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("batch_run.id"), index=True)
    last_outcome: Mapped[str | None] = mapped_column(String(10))
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    last_error_type: Mapped[str | None] = mapped_column(String(200))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    running_run_id: Mapped[int | None] = mapped_column(ForeignKey("batch_run.id"), index=True)
    running_host: Mapped[str | None] = mapped_column(String(255))
    running_pid: Mapped[int | None]
    running_since: Mapped[datetime | None]
