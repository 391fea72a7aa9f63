"""The batch runner: one contract for every batch (DESIGN.md section 6).

A batch is a few steps, each a function called again and again until it returns None; a
step does one chunk of work, derived from durable state, and commits it. The runner wraps
the steps in what the operators rely on:

- a ``BatchRun`` row per run and the one ``BatchHeartbeat`` row per batch the health check
  reads, stamped at the start, after each chunk, at the end, and by a pulse thread on a
  connection of its own at least every 10 s, however long a step waits (a slow provider);
- a lock with a lease on that heartbeat row (an atomic conditional UPDATE): a second start
  while a run is alive is refused (exit 75), a run silent longer than ``BatchLeaseSeconds``
  (or, on the same host, whose process has exited) stopped without finishing and is taken
  over; it is recorded as stopped at its last heartbeat. A run that finds its lease taken,
  or cannot renew it, stops before it sends anything more (``Context.stopping``);
- transient errors (deadlock, lock or statement timeout, lost connection, a provider's 5xx
  or timeout) retried with backoff, then the run ends failed and the rest stays pending
  for the next run, which takes over where this one stopped;
- SIGTERM (and Ctrl-C) finish the item in flight, then the run is recorded as failed;
- ``--dry-run`` (the batch's preview, nothing changed) and ``--limit N``.
"""

import importlib
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from ep.batches.spine import SPINE, BatchSpec
from ep.config import Config
from ep.models import BatchHeartbeat, BatchRun
from ep.notify import TransientDeliveryError
from ep.timeutil import format_local, utcnow

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_LOCKED = 75  # EX_TEMPFAIL: another live run holds the lock; try again later

# a run that ended without recording it (killed, OOM, power loss), as taken over
STOPPED, STOPPED_ERROR = "stopped", "StoppedWithoutFinishing"
HEARTBEAT_SECONDS = 10  # well inside the promised 30 s, far inside the lease
MAX_BACKOFF_SECONDS = 30
ERROR_MESSAGE_LENGTH = 2000


# -- the contract ------------------------------------------------------------------------


@dataclass
class StepResult:
    """What one call of a step did: notifications queued (to be sent by a later step), and
    items that succeeded (a notification sent), failed (recorded on the item) or were
    skipped."""

    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    queued: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.succeeded + self.failed + self.skipped


@dataclass
class Context:
    """What a step gets: the session, configuration, clock, its run and the run's wishes.

    The runner commits after each call of a step (a step's work is one chunk, committed
    as one); a step commits only where it must before something outside the database
    happens (the lab import files a message away only once it is recorded). It may keep
    its own cursor between calls in ``state`` (a fresh dict per step), check ``stopping``
    between items, announce how much work it sees with ``expect(n)`` (the progress bar) and
    size its chunks with ``chunk_size()``, which honours ``--limit``.
    """

    session: Session
    config: Config
    run: BatchRun | None  # None in a dry run: a dry run records nothing
    now: Callable[[], datetime]
    claimant: str  # "<run id>@<host>:<pid>", what a claimed item records as its owner
    limit: int | None
    dry_run: bool
    log: Callable[[str], None]
    state: dict[str, Any] = field(default_factory=dict)
    # set by the runner
    stop_event: threading.Event = field(default_factory=threading.Event)
    done_in_step: int = 0
    expected: int | None = None
    lease: "Lease | None" = None

    @property
    def stopping(self) -> bool:
        """True once SIGTERM asked the run to stop, or the run no longer surely holds its
        lease: finish the item in hand, take (and send) no more."""
        return self.stop_event.is_set() or (self.lease is not None and not self.lease.held())

    def remaining(self) -> int | None:
        """Items this step may still do under ``--limit``; None when unlimited."""
        return None if self.limit is None else max(self.limit - self.done_in_step, 0)

    def chunk_size(self) -> int:
        """How many items to do (and commit together) in this call."""
        size = self.config["BatchChunkSize"]
        remaining = self.remaining()
        return size if remaining is None else min(size, remaining)

    def expect(self, count: int) -> None:
        """Announce how many items this step sees in all (shown as a progress bar)."""
        self.expected = count if self.limit is None else min(count, self.limit)


Step = Callable[[Context], "StepResult | None"]


@dataclass(frozen=True)
class Batch:
    """A batch: its name in the spine (which holds its command, help and schedule), its
    steps and its preview."""

    spec: BatchSpec  # from ep.batches.spine
    steps: tuple[Step, ...]
    preview: Callable[[Context], list[str]]  # what --dry-run prints; changes nothing

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def command(self) -> str:
        return self.spec.command

    @property
    def help(self) -> str:
        return self.spec.help


class TransientError(Exception):
    """A failure worth retrying: the run backs off, tries again, then fails (exit 1)."""


class BatchLocked(Exception):
    """Another live run of the batch holds the lock (exit 75)."""

    def __init__(self, batch: str, run_id, host, pid, since, last_activity):
        self.batch = batch
        self.run_id, self.host, self.pid, self.since = run_id, host, pid, since
        self.last_activity = last_activity
        super().__init__(
            f"{batch} is already running: run {run_id} on {host} (pid {pid}) since "
            f"{_iso(since)}, last heartbeat {_iso(last_activity)}; not started"
        )


class LeaseLost(Exception):
    """This run fell silent for longer than the lease and another run took over."""


class Interrupted(Exception):
    """SIGTERM or Ctrl-C: the item in flight was finished, the rest is left pending."""


_REGISTRY: dict[str, Batch] = {}


def register(batch: Batch) -> Batch:
    """Add ``batch`` to the registry, so `ep batch <command>` runs it."""
    existing = _REGISTRY.get(batch.command)
    if existing is not None and existing is not batch:
        raise ValueError(f"two batches claim `ep batch {batch.command}`")
    _REGISTRY[batch.command] = batch
    return batch


def registered() -> list[Batch]:
    """Every registered batch, in registration order."""
    return list(_REGISTRY.values())


def load_batch(spec: BatchSpec) -> Batch | None:
    """Import ``spec``'s module (it registers its Batch) and return the batch; None when
    the module is not in this build yet (branches land one by one)."""
    try:
        importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if exc.name != spec.module:
            raise
        return None
    return _REGISTRY.get(spec.command)


def load_batches() -> list[Batch]:
    """Import every batch module of the spine; return the batches, in the spine's order."""
    return [batch for spec in SPINE if (batch := load_batch(spec)) is not None]


# -- transient errors --------------------------------------------------------------------

# SQLSTATEs worth a retry: serialization failure, deadlock, lock not available, statement
# or lock timeout (query_canceled), the server shutting down; class 08 is a lost connection
TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"}
SQLITE_TRANSIENT = ("database is locked", "database table is locked", "disk i/o error")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying: it says nothing about the item, only the moment."""
    if isinstance(exc, TransientError | DisconnectionError | PoolTimeoutError):
        return True
    if isinstance(exc, TransientDeliveryError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return _transient_driver_error(exc.orig)
    return _transient_driver_error(exc)


def _transient_driver_error(orig: BaseException | None) -> bool:
    if orig is None:
        return False
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate:
        return sqlstate in TRANSIENT_SQLSTATES or sqlstate.startswith("08")
    if isinstance(orig, sqlite3.OperationalError):
        return any(text in str(orig).lower() for text in SQLITE_TRANSIENT)
    # a connection that broke before any SQLSTATE came back. The driver is looked up, not
    # imported: an SQLite installation never loads it (0.15 s of every `ep` command's start),
    # and an error cannot be psycopg's unless psycopg is loaded
    psycopg = sys.modules.get("psycopg")
    return (
        psycopg is not None
        and isinstance(orig, psycopg.OperationalError)
        and getattr(orig, "sqlstate", None) is None
    )


def error_type_of(exc: BaseException) -> str:
    """The error's type as the operator sees it: the driver's, not SQLAlchemy's wrapper."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    return type(exc).__name__


def error_message_of(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:ERROR_MESSAGE_LENGTH]


# -- running -----------------------------------------------------------------------------


@dataclass
class RunOutcome:
    """How a run ended, for the summary line and the exit code."""

    batch: str
    run_id: int | None
    status: str  # succeeded | failed | dry-run
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error_type: str | None = None
    error_message: str | None = None
    preview: list[str] = field(default_factory=list)  # a dry run's lines
    queued: int = 0

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.status == "failed" else EXIT_OK

    @property
    def processed(self) -> int:
        return self.queued + self.succeeded + self.failed + self.skipped


class Reporter:
    """Where a run tells people what it does; silent by default (library use, tests)."""

    def log(self, message: str) -> None:
        pass

    def progress(self, step: int, steps: int, done: int, expected: int | None) -> None:
        pass

    def close(self) -> None:
        pass


def batch_session(engine) -> Session:
    """A session for a batch run: on SQLite each transaction takes the write lock at BEGIN,
    so a batch working beside other writers waits its turn instead of failing."""
    return Session(engine.execution_options(sqlite_immediate=True))


def run_batch(
    batch: Batch,
    *,
    session: Session,
    config: Config,
    limit: int | None = None,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
    reporter: Reporter | None = None,
    stop_event: threading.Event | None = None,
    host: str | None = None,
    pid: int | None = None,
) -> RunOutcome:
    """Run ``batch`` once; return how it ended. Raise BatchLocked when a live run holds it.

    ``session`` should be the run's own (batch_session): the runner commits and rolls it back.
    """
    reporter = reporter or Reporter()
    stop_event = stop_event or threading.Event()
    host = host or socket.gethostname()
    pid = os.getpid() if pid is None else pid
    ctx = Context(
        session=session,
        config=config,
        run=None,
        now=clock,
        claimant=f"dry-run@{host}:{pid}",
        limit=limit,
        dry_run=dry_run,
        log=reporter.log,
        stop_event=stop_event,
    )
    if dry_run:  # the preview only: no run recorded, no lock taken, nothing changed
        try:
            lines = batch.preview(ctx)
        finally:
            session.rollback()
        return RunOutcome(batch=batch.name, run_id=None, status="dry-run", preview=lines)

    ctx.run, run_id = _acquire(batch, session, config, clock, host, pid, reporter)
    ctx.claimant = f"{run_id}@{host}:{pid}"
    ctx.lease = Lease(batch.name, run_id, session.get_bind(), config["BatchLeaseSeconds"], clock)
    loop = _Loop(batch, ctx, run_id, reporter)
    started = time.monotonic()
    reporter.log(f"{batch.name} run {run_id} started on {host} (pid {pid})")
    error: Exception | None = None
    with _stop_on_signals(stop_event), ctx.lease:
        try:
            loop.run()
        except KeyboardInterrupt as exc:  # a second Ctrl-C: record it, then stop at once
            _finish(session, batch, run_id, loop.totals, clock(), error=exc)
            raise
        except Exception as exc:
            error = exc
            if not isinstance(exc, Interrupted | LeaseLost | _Exhausted):
                reporter.log("".join(traceback.format_exception(exc)).rstrip())
    outcome = _finish(session, batch, run_id, loop.totals, clock(), error=error)
    outcome.seconds = time.monotonic() - started
    reporter.close()
    return outcome


class _Loop:
    """The steps, called until done, with heartbeats, retries and the stop flag."""

    def __init__(self, batch: Batch, ctx: Context, run_id: int, reporter: Reporter):
        self.batch, self.ctx, self.run_id, self.reporter = batch, ctx, run_id, reporter
        self.totals = StepResult()
        self.since_beat = 0
        self.last_beat = time.monotonic()

    def run(self) -> None:
        ctx, steps = self.ctx, self.batch.steps
        max_attempts = ctx.config["BatchMaxAttempts"]
        for index, step in enumerate(steps, start=1):
            ctx.state, ctx.done_in_step, ctx.expected = {}, 0, None
            attempts = 0
            while True:
                if ctx.lease is not None and not ctx.lease.held():
                    raise LeaseLost(ctx.lease.why_lost())
                if ctx.stopping:
                    raise Interrupted(
                        f"stopped by a signal after {self.totals.total} items; "
                        "the rest is left for the next run"
                    )
                if ctx.remaining() == 0:
                    break
                try:
                    result = step(ctx)
                except Exception as exc:
                    ctx.session.rollback()
                    if not is_transient(exc):
                        raise
                    attempts += 1
                    if attempts >= max_attempts:
                        raise _Exhausted(exc, attempts) from exc
                    delay = _backoff(ctx.config, attempts)
                    self.reporter.log(
                        f"{self.batch.name}: {error_type_of(exc)}: {error_message_of(exc)}; "
                        f"attempt {attempts} of {max_attempts}, retrying in {delay:.1f} s"
                    )
                    self._wait(delay)
                    continue
                # end whatever the step left open: a read snapshot held while the batch
                # waits would make SQLite refuse the next write ("database is locked")
                ctx.session.commit()
                attempts = 0
                if result is None:
                    break
                self._count(result)
                self.reporter.progress(index, len(steps), ctx.done_in_step, ctx.expected)
            self.reporter.progress(index, len(steps), ctx.done_in_step, ctx.done_in_step)
        self.beat(force=True)

    def _count(self, result: StepResult) -> None:
        self.totals.queued += result.queued
        self.totals.succeeded += result.succeeded
        self.totals.failed += result.failed
        self.totals.skipped += result.skipped
        self.ctx.done_in_step += result.total
        self.since_beat += result.total
        chunk = self.ctx.config["BatchChunkSize"]
        self.beat(force=self.since_beat >= chunk)

    def beat(self, *, force: bool = False) -> None:
        """Stamp the heartbeat after a chunk, and at least every HEARTBEAT_SECONDS."""
        if not force and time.monotonic() - self.last_beat < HEARTBEAT_SECONDS:
            return
        _heartbeat(self.ctx.session, self.batch, self.run_id, self.totals, self.ctx.now())
        self.since_beat, self.last_beat = 0, time.monotonic()
        if self.ctx.lease is not None:
            self.ctx.lease.renew()

    def _wait(self, seconds: float) -> None:
        """Back off for ``seconds``, still beating, and waking at once on SIGTERM."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.ctx.stop_event.wait(min(left, HEARTBEAT_SECONDS)):
                return
            self.beat()


class _Exhausted(Exception):
    """A transient error outlasted BatchMaxAttempts tries."""

    def __init__(self, cause: BaseException, attempts: int):
        self.cause, self.attempts = cause, attempts
        super().__init__(str(cause))


class Lease:
    """Keeps a run's lease: a thread stamps the heartbeat every few seconds on a connection
    of its own, so a step waiting on a slow provider or a long statement never looks dead.

    ``held()`` says whether the run surely still holds the lease: false once a stamp found
    another run in its place, or when no stamp has succeeded for three quarters of the
    lease (the database unreachable, say) — no other run can take over before the whole
    lease has passed.
    """

    def __init__(self, batch: str, run_id: int, bind, lease_seconds: int, clock):
        self.batch, self.run_id, self.bind, self.clock = batch, run_id, bind, clock
        self.lease_seconds = lease_seconds
        self.interval = min(HEARTBEAT_SECONDS, lease_seconds / 4)
        self.renewed = time.monotonic()
        self.lost = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._pulse, name=f"{batch}-lease", daemon=True)

    def __enter__(self) -> "Lease":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        self.done.set()
        self.thread.join()
        return False

    def held(self) -> bool:
        if self.lost.is_set():
            return False
        return time.monotonic() - self.renewed < self.lease_seconds * 3 / 4

    def why_lost(self) -> str:
        if self.lost.is_set():
            return f"run {self.run_id} lost its lease: another run took over"
        return (
            f"run {self.run_id} could not renew its lease for "
            f"{time.monotonic() - self.renewed:.0f} s; stopped before another run may take over"
        )

    def renew(self) -> None:
        """Stamp the heartbeat once (also the main thread's stamp: it proves the lease)."""
        self.renewed = time.monotonic()

    def _pulse(self) -> None:
        while not self.done.wait(self.interval):
            try:
                with self.bind.connect() as connection, connection.begin():
                    stamped = connection.execute(_stamp(self.batch, self.run_id, self.clock()))
            except Exception:  # the database is away: held() turns false in time
                continue
            if stamped.rowcount != 1:
                self.lost.set()
                return
            self.renew()


def _stamp(batch: str, run_id: int, now: datetime):
    return (
        update(BatchHeartbeat)
        .where(BatchHeartbeat.batch == batch, BatchHeartbeat.running_run_id == run_id)
        .values(last_activity_at=now)
        .execution_options(synchronize_session=False)
    )


def _backoff(config: Config, attempt: int) -> float:
    base = config["BatchRetryDelayMilliseconds"] / 1000
    return min(base * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)


def _insert_ignoring_existing(session: Session, model, **values) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(model).values(**values).on_conflict_do_nothing()
    session.execute(statement)


def _holder_of(name: str):
    """Who holds the batch's lock: run, host, pid, since and its last activity."""
    return select(
        BatchHeartbeat.running_run_id,
        BatchHeartbeat.running_host,
        BatchHeartbeat.running_pid,
        BatchHeartbeat.running_since,
        BatchHeartbeat.last_activity_at,
    ).where(BatchHeartbeat.batch == name)


def _acquire(batch, session, config, clock, host, pid, reporter) -> tuple[BatchRun, int]:
    """Record the run and take the lock, or raise BatchLocked naming the live run."""
    now = clock()
    _insert_ignoring_existing(session, BatchHeartbeat, batch=batch.name)
    session.commit()
    holder = session.execute(_holder_of(batch.name)).one()
    run = BatchRun(batch=batch.name, host=host, pid=pid, started_at=now, status="running")
    session.add(run)
    session.flush()
    stale_before = now - timedelta(seconds=config["BatchLeaseSeconds"])
    free = [
        BatchHeartbeat.running_run_id.is_(None),
        BatchHeartbeat.last_activity_at.is_(None),
        BatchHeartbeat.last_activity_at < stale_before,
    ]
    gone = holder.running_run_id is not None and process_gone(
        holder.running_host, holder.running_pid, host
    )
    if gone:  # a holder on this host whose process has exited: no need to wait out the lease
        free.append(BatchHeartbeat.running_run_id == holder.running_run_id)
    taking: dict[str, Any] = dict(
        running_run_id=run.id,
        running_host=host[:255],
        running_pid=pid,
        running_since=now,
        last_activity_at=now,
    )
    message = ""
    if holder.running_run_id is not None:
        why = (
            "its process has exited"
            if gone
            else f"no heartbeat since {_iso(holder.last_activity_at)} "
            f"(lease {config['BatchLeaseSeconds']} s)"
        )
        message = (
            f"run {holder.running_run_id} on {holder.running_host} (pid {holder.running_pid}) "
            f"stopped without finishing: {why}; taken over by run {run.id}"
        )
        # the health check stays red until a run succeeds, not merely until one starts
        taking.update(
            last_run_id=holder.running_run_id,
            last_outcome=STOPPED,
            last_failure_at=holder.last_activity_at or now,
            last_error_type=STOPPED_ERROR,
            last_error_message=message,
        )
    # the lock: one atomic conditional UPDATE; on PostgreSQL a concurrent starter waits
    # for this row and then sees it taken, so exactly one of them gets rowcount 1
    taken = session.execute(
        update(BatchHeartbeat)
        .where(BatchHeartbeat.batch == batch.name, or_(*free))
        .values(**taking)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        session.rollback()
        live = session.execute(_holder_of(batch.name)).one()
        session.rollback()
        raise BatchLocked(batch.name, *live)
    if holder.running_run_id is not None:
        # a killed run ended at its last heartbeat, not when someone noticed
        session.execute(
            update(BatchRun)
            .where(BatchRun.id == holder.running_run_id, BatchRun.status == "running")
            .values(
                status=STOPPED,
                finished_at=holder.last_activity_at or now,
                error_type=STOPPED_ERROR,
                error_message=message,
            )
            .execution_options(synchronize_session=False)
        )
        reporter.log(f"{batch.name}: {message}")
    run_id = run.id
    session.commit()
    return run, run_id


def process_gone(holder_host: str | None, holder_pid: int | None, host: str) -> bool:
    """Whether the holder ran on this host and its process no longer exists."""
    if os.name != "posix" or holder_host != host or not holder_pid:
        return False
    try:
        os.kill(holder_pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


def _heartbeat(session: Session, batch: Batch, run_id: int, totals: StepResult, now) -> None:
    """Stamp the heartbeat row (raise LeaseLost if another run took it) and the counts."""
    # an UPDATE's result is a cursor's, which counts its rows
    stamped = cast(CursorResult[Any], session.execute(_stamp(batch.name, run_id, now)))
    if stamped.rowcount != 1:
        session.rollback()
        raise LeaseLost(f"run {run_id} was silent longer than the lease and another run took over")
    session.execute(_counts_update(run_id, totals))
    session.commit()


def _counts_update(run_id: int, totals: StepResult):
    return (
        update(BatchRun)
        .where(BatchRun.id == run_id)
        .values(
            processed=totals.total,
            queued=totals.queued,
            succeeded=totals.succeeded,
            failed=totals.failed,
            skipped=totals.skipped,
        )
        .execution_options(synchronize_session=False)
    )


def _finish(session, batch, run_id, totals, now, *, error) -> RunOutcome:
    """Record how the run ended on its BatchRun and the heartbeat, and release the lock."""
    outcome = RunOutcome(
        batch=batch.name,
        run_id=run_id,
        status="failed" if error is not None else "succeeded",
        succeeded=totals.succeeded,
        failed=totals.failed,
        skipped=totals.skipped,
        queued=totals.queued,
    )
    if error is not None:
        cause = error.cause if isinstance(error, _Exhausted) else error
        outcome.error_type = error_type_of(cause)
        outcome.error_message = error_message_of(cause)
        if isinstance(error, _Exhausted):
            outcome.error_message = (
                f"{outcome.error_message} (gave up after {error.attempts} attempts; "
                "the rest is pending for the next run)"
            )[:ERROR_MESSAGE_LENGTH]
        elif isinstance(error, KeyboardInterrupt):
            outcome.error_type, outcome.error_message = "Interrupted", "stopped by Ctrl-C"
    heartbeat_values: dict[str, Any] = {
        "last_activity_at": now,
        "last_run_id": run_id,
        "last_outcome": outcome.status,
        "running_run_id": None,
        "running_host": None,
        "running_pid": None,
        "running_since": None,
    }
    if error is None:
        heartbeat_values["last_success_at"] = now
    else:
        heartbeat_values.update(
            last_failure_at=now,
            last_error_type=outcome.error_type,
            last_error_message=outcome.error_message,
        )
    for attempt in range(3):  # the database may be what failed; try a little harder
        try:
            session.rollback()
            session.execute(_counts_update(run_id, totals))
            # a run taken over was recorded as abandoned by its successor: keep that
            session.execute(
                update(BatchRun)
                .where(BatchRun.id == run_id, BatchRun.status == "running")
                .values(
                    finished_at=now,
                    status=outcome.status,
                    error_type=outcome.error_type,
                    error_message=outcome.error_message,
                )
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(BatchHeartbeat)
                .where(BatchHeartbeat.batch == batch.name, BatchHeartbeat.running_run_id == run_id)
                .values(**heartbeat_values)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            break
        except Exception as exc:
            session.rollback()
            if attempt == 2 or not is_transient(exc):
                raise
            time.sleep(1)
    return outcome


class _stop_on_signals:
    """Turn SIGTERM and SIGINT into a stop request while a run is in progress.

    Signal handlers can only be set from the main thread; a run in another thread (tests,
    parallel workers) is stopped through its stop_event instead.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, stop_event: threading.Event):
        self.stop_event = stop_event
        self.previous: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, _frame):
        if self.stop_event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the person means it
        self.stop_event.set()

    def __exit__(self, *exc_info):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False


def _iso(value: datetime | None) -> str:
    # the one way operator messages show a time: Stockholm, with its offset
    return "never" if value is None else format_local(value, "%Y-%m-%d %H:%M:%S %z")


__all__ = [
    "Batch",
    "BatchLocked",
    "Context",
    "EXIT_FAILED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "Interrupted",
    "LeaseLost",
    "Reporter",
    "RunOutcome",
    "Step",
    "batch_session",
    "load_batch",
    "load_batches",
    "process_gone",
    "StepResult",
    "TransientError",
    "error_type_of",
    "is_transient",
    "register",
    "registered",
    "run_batch",
]
