"""The health checks: pure evaluation of what the database and the files say.

A batch is in one of these states (DESIGN.md section 15), shown alike everywhere it is
shown: never run (graced from the installation), running, stopped without finishing (a
running run whose heartbeat is older than BatchLeaseSeconds, or whose process on this host
is gone; ERROR until a run succeeds), failed (ERROR until a run succeeds), late (the
manual's inactivity message), ok; and unknown when the database cannot be read.

Each check gives a CheckResult: ``pass``, ``warn`` or ``fail`` (the IETF health-check
draft's words), a message for the operator, the last activity and the threshold. The plain
HealthCheckStatus answers ``ERROR`` when any check fails; a warning keeps it ``OK``.

What HealthCheckStatus reads must not grow with history: one BatchHeartbeat row per batch,
the installation row and the certificate files (parsed again only when they change). The
outbox and lab-inbox counts are warnings only, so they are read for the detail page alone.
"""

import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Row, func, select, text, true
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from ep.backup.archiving import check_wal_archiving
from ep.batches.runner import STOPPED, process_gone
from ep.batches.spine import BATCHES, SPINE, spec_of
from ep.config import Config
from ep.database import execute_retrying_once
from ep.domain.notifications import failing_count
from ep.identity.certificates import load_certificates, load_crls
from ep.models import BatchHeartbeat, Installation, LabMessage, MllpListener
from ep.timeutil import format_local

PASS, WARN, FAIL = "pass", "warn", "fail"
DATABASE_TIMEOUT_SECONDS = 5
# the manual's words (section 3), with ep.ini where the manual says web.config
INACTIVITY_MESSAGE = (
    "Configured to warn after {minutes} minutes inactivity. Time is NOT within warning "
    "limits defined in ep.ini. Check task scheduler to see if batch is running."
)
NOT_INSTALLED_MESSAGE = "EP is not installed in this database: run `ep init`."
DATABASE_UNAVAILABLE = "not checked: the database is unavailable"


@dataclass
class CheckResult:
    """One check's outcome, as the detail page, the JSON, Prometheus and Nagios show it."""

    component: str  # database, NOTIFYREMINDERS, notifications, serverCertificate …
    measurement: str  # responseTime, inactivity, failed, expiry …
    status: str  # pass | warn | fail
    message: str
    component_type: str = "component"  # the draft's: component, datastore or system
    last_activity: datetime | None = None
    last_success: datetime | None = None
    threshold: str | None = None
    observed_value: float | None = None
    observed_unit: str | None = None
    command: str | None = None  # what the operator runs to fix it

    @property
    def key(self) -> str:
        return f"{self.component}:{self.measurement}"

    @property
    def is_batch(self) -> bool:
        return self.component in BATCHES


@dataclass
class Report:
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        statuses = {check.status for check in self.checks}
        return FAIL if FAIL in statuses else WARN if WARN in statuses else PASS

    @property
    def ok(self) -> bool:
        """What HealthCheckStatus says: OK unless a check fails (warnings keep it OK)."""
        return self.status != FAIL

    def failing(self) -> list[CheckResult]:
        return [check for check in self.checks if check.status != PASS]


def batch_command(batch: str) -> str:
    """The shell command that runs ``batch``: NOTIFYREMINDERS -> ep batch notify-reminders."""
    return spec_of(batch).shell_command


def _when(value: datetime | None) -> str:
    """A time as the operator pages and messages show it: Stockholm, with its offset."""
    return format_local(value, "%Y-%m-%d %H:%M:%S %z") if value else "never"


# -- the checks, each a pure function of what was read --


def check_batch(
    batch: str,
    heartbeat: BatchHeartbeat | Row[Any] | None,  # the model or a row of its table
    *,
    warn_after_minutes: int,
    lease_seconds: int,
    installed_at: datetime | None,
    now: datetime,
    host: str | None = None,  # this host, to see whether a run here still has its process
) -> CheckResult:
    """One batch: never run, running, stopped without finishing, failed, late, or ok."""
    threshold = timedelta(minutes=warn_after_minutes)
    command = batch_command(batch)
    result = CheckResult(
        batch,
        "inactivity",
        PASS,
        "",
        threshold=f"{warn_after_minutes} min",
        observed_unit="min",
        command=command,
    )
    last = heartbeat.last_activity_at if heartbeat else None
    result.last_activity = last
    result.last_success = heartbeat.last_success_at if heartbeat else None
    inactivity = INACTIVITY_MESSAGE.format(minutes=warn_after_minutes)

    if last is None:
        if installed_at is None or now - installed_at <= threshold:
            due = (
                f" First run expected by {_when(installed_at + threshold)}." if installed_at else ""
            )
            result.message = f"Has not run yet.{due}"
            return result
        result.status = FAIL
        result.observed_value = _minutes(now - installed_at)
        result.message = (
            f"{inactivity} Last activity: never (installed {_when(installed_at)}). "
            f"Start it: {command}"
        )
        return result
    assert heartbeat is not None  # ``last`` is its last activity

    silent_for = now - last
    result.observed_value = _minutes(silent_for)
    running = heartbeat.running_run_id is not None
    messages = []
    stalled = running and stalled_because(heartbeat, lease_seconds, now=now, host=host)
    if stalled:
        result.status = FAIL
        messages.append(
            f"{batch} run {heartbeat.running_run_id} on {heartbeat.running_host or '?'} "
            f"(pid {heartbeat.running_pid or '?'}) stopped without finishing: {stalled}; "
            f"last heartbeat {_when(last)}. Run it again: {command}"
        )
    elif heartbeat.last_outcome in ("failed", STOPPED):
        result.status = FAIL
        error = ": ".join(
            part for part in (heartbeat.last_error_type, heartbeat.last_error_message) if part
        )
        what = "stopped without finishing" if heartbeat.last_outcome == STOPPED else "failed"
        now_running = f" Run {heartbeat.running_run_id} is running now." if running else ""
        messages.append(
            f"The latest run {what} at {_when(heartbeat.last_failure_at or last)}: "
            f"{error or 'no error recorded'}.{now_running} ERROR until a run succeeds. "
            f"Run it again: {command}"
        )
        if silent_for > threshold:
            messages.append(f"{inactivity} Last activity: {_when(last)}.")
    elif silent_for > threshold:
        result.status = FAIL
        messages.append(f"{inactivity} Last activity: {_when(last)}.")
    else:
        state = "running now" if running else "last run succeeded"
        messages.append(f"Last activity {_when(last)}; {state}.")
    result.message = " ".join(messages)
    return result


def stalled_because(
    heartbeat: BatchHeartbeat | Row[Any], lease_seconds: int, *, now: datetime, host: str | None
) -> str:
    """Why the running run of ``heartbeat`` has stopped without finishing; "" if alive."""
    if heartbeat.last_activity_at is None or heartbeat.running_run_id is None:
        return ""
    if host is not None and process_gone(heartbeat.running_host, heartbeat.running_pid, host):
        return "its process no longer exists"
    if now - heartbeat.last_activity_at > timedelta(seconds=lease_seconds):
        return f"no heartbeat for longer than BatchLeaseSeconds ({lease_seconds} s)"
    return ""


def check_installation(installed_at: datetime | None) -> CheckResult:
    """The installation record `ep init` writes: without it nothing here can be judged."""
    if installed_at is None:
        return CheckResult(
            "installation", "installed", FAIL, NOT_INSTALLED_MESSAGE, command="ep init"
        )
    return CheckResult(
        "installation", "installed", PASS, f"EP was installed {_when(installed_at)}."
    )


def unknown_batches(config: Config) -> list[CheckResult]:
    """Every batch as unknown: the database that says how they are could not be read."""
    return [
        CheckResult(
            spec.name,
            "inactivity",
            WARN,
            DATABASE_UNAVAILABLE,
            threshold=f"{config.warn_after_minutes(spec.name)} min",
            command=spec.shell_command,
        )
        for spec in SPINE
    ]


_SET_TIMEOUT = text("SELECT set_config('statement_timeout', :ms, true)")
_SELECT_1 = text("SELECT 1")


def check_database(session: Session, *, timeout_seconds: int) -> CheckResult:
    """SELECT 1 with a statement timeout; the response time is the observed value."""
    started = time.perf_counter()
    try:
        if session.get_bind().dialect.name == "postgresql":
            # the SELECT 1 that also bounds every later statement of this request's
            # transaction (SET LOCAL as a function, one round trip instead of two); the
            # operator pages' autocommit engine has the same timeout for each connection
            statement, params = _SET_TIMEOUT, {"ms": str(int(timeout_seconds * 1000))}
        else:
            statement, params = _SELECT_1, None
        # a pooled connection the database dropped is not an unreachable database
        execute_retrying_once(session, statement, params)
    except SQLAlchemyError as exc:
        session.rollback()
        return CheckResult(
            "database",
            "responseTime",
            FAIL,
            f"The database cannot be reached: {one_line(exc)}",
            component_type="datastore",
            threshold=f"{timeout_seconds} s",
        )
    elapsed_ms = (time.perf_counter() - started) * 1000
    return CheckResult(
        "database",
        "responseTime",
        PASS,
        f"The database answered in {elapsed_ms:.1f} ms.",
        component_type="datastore",
        threshold=f"{timeout_seconds} s",
        observed_value=round(elapsed_ms, 2),
        observed_unit="ms",
    )


def _count_check(
    component: str, measurement: str, count: int, warning: str, fine: str
) -> CheckResult:
    return CheckResult(
        component,
        measurement,
        WARN if count else PASS,
        warning if count else fine,
        observed_value=count,
        observed_unit="messages",
    )


def check_outbox(failed: int) -> CheckResult:
    """Notifications that could not be delivered (permanent errors) — a warning."""
    return _count_check(
        "notifications",
        "failed",
        failed,
        f"{failed} notification(s) could not be delivered (status failed, e.g. a wrong "
        "phone number or e-mail address). The residents still see them in their inbox.",
        "No failed notifications.",
    )


def check_lab_inbox(quarantined: int) -> CheckResult:
    """Lab messages rejected or not matched to an order, not yet resolved — a warning."""
    return _count_check(
        "labInbox",
        "quarantined",
        quarantined,
        f"{quarantined} lab message(s) are quarantined (rejected or unmatched) and wait "
        "for staff to attach them to an order or for the lab to resend them.",
        "No quarantined lab messages.",
    )


def _days_left(
    component: str, path: Path, what: str, *, warn_days: int, now: datetime
) -> tuple[CheckResult, datetime | None]:
    """A passing result with the days left until ``path``'s date, and that date; a failing
    result and None when the file cannot be read."""
    result = CheckResult(
        component, "expiry", PASS, "", threshold=f"{warn_days} days", observed_unit="days"
    )
    try:
        due = _expiry_of(path, what)
    except (OSError, ValueError) as exc:
        result.status = FAIL
        result.message = f"{path} cannot be read: {one_line(exc)}"
        return result, None
    result.observed_value = round((due - now).total_seconds() / 86400, 1)
    return result, due


def check_expiry(
    component: str, path: Path | None, *, warn_days: int, now: datetime, what: str = "certificate"
) -> CheckResult | None:
    """The earliest expiry among the certificates in ``path``."""
    if path is None:
        return None
    result, expires = _days_left(component, path, what, warn_days=warn_days, now=now)
    if expires is None:
        return result
    days = result.observed_value
    assert days is not None  # _days_left set it with the date
    when = _when(expires)
    if expires < now:
        result.status = FAIL
        result.message = f"The {what} in {path.name} expired {when}. Renew it."
    elif days < warn_days:
        result.status = WARN
        result.message = (
            f"The {what} in {path.name} expires {when}, in {days:.0f} days. Renew it in time."
        )
    else:
        result.message = f"The {what} in {path.name} expires {when}."
    return result


def check_crl(
    component: str, path: Path | None, *, warn_days: int, now: datetime
) -> CheckResult | None:
    """The CRL's next update: FAIL past it (EP then refuses every certificate of its CA, as
    OpenSSL and nginx do), WARN ``warn_days`` before."""
    if path is None:
        return None
    result, next_update = _days_left(component, path, "crl", warn_days=warn_days, now=now)
    if next_update is None:
        return result
    days = result.observed_value
    assert days is not None  # _days_left set it with the date
    when = _when(next_update)
    if next_update < now:
        result.status = FAIL
        result.message = (
            f"The CRL in {path.name} expired {when} (its next update): every certificate "
            "of its CA is refused until a fresh CRL from the CA is installed."
        )
    elif days < warn_days:
        result.status = WARN
        result.message = (
            f"The CRL in {path.name} must be replaced by {when}, in {days:.1f} days; "
            "after that every certificate of its CA is refused."
        )
    else:
        result.message = f"The CRL in {path.name} is next updated {when}."
    return result


_expiry_cache: dict[tuple[str, int, int, str], datetime] = {}


def _expiry_of(path: Path, what: str) -> datetime:
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, what)
    if key not in _expiry_cache:
        if what == "crl":
            value = min(crl.next_update_utc for crl in load_crls(path) if crl.next_update_utc)
        else:
            value = min(cert.not_valid_after_utc for cert in load_certificates(path))
        _expiry_cache[key] = value
    return _expiry_cache[key]


def check_wal_archive(ok: bool, message: str, *, warn_after_minutes: int) -> CheckResult:
    """PostgreSQL's WAL archive (WalArchivingExpected): off, failing or behind warns."""
    return CheckResult(
        "walArchive",
        "archiving",
        PASS if ok else WARN,
        message,
        threshold=f"{warn_after_minutes} min",
        command=None if ok else "sudo -u postgres pgbackrest --stanza=ep check",
    )


def check_mllp_listeners(listeners: Iterable[Row[Any]], *, host: str) -> list[CheckResult]:
    """Each `ep mllp serve` listener (``listeners``: rows of mllp_listener).

    A listener whose process on this host is gone died without recording its stop: ERROR.
    A clean stop warns, unless another listener is listening. No rows: MLLP is not used.
    """
    rows = list(listeners)
    dead = {
        row.id
        for row in rows
        if row.listening_since is not None and process_gone(row.hostname, row.pid, host)
    }
    anyone_listening = any(row.listening_since is not None and row.id not in dead for row in rows)
    results = []
    for row in rows:
        result = CheckResult(
            "mllpListener",
            f"{row.hostname}/{row.address}",
            PASS,
            "",
            last_activity=row.last_message_at,
            observed_value=row.messages,
            observed_unit="messages",
            command="systemctl restart ep-mllp",
        )
        last = _when(row.last_message_at)
        if row.id in dead:
            result.status = FAIL
            result.message = (
                f"MLLP listener on {row.address} ({row.hostname}, pid {row.pid}) stopped "
                f"without finishing: its process no longer exists; it had listened since "
                f"{_when(row.listening_since)}, last message at {last}. Start it again."
            )
        elif row.listening_since is not None:
            result.message = (
                f"MLLP listener on {row.address} ({row.hostname}) listening since "
                f"{_when(row.listening_since)}, {row.messages} messages, last at {last}."
            )
        elif anyone_listening:
            result.message = (
                f"MLLP listener on {row.address} ({row.hostname}) stopped at "
                f"{_when(row.stopped_at)}; another listener is listening."
            )
        else:
            result.status = WARN
            result.message = (
                f"MLLP listener on {row.address} stopped at {_when(row.stopped_at)} "
                f"({row.hostname}); no listener receives lab results over MLLP."
            )
        results.append(result)
    return results


# -- reading and evaluating --


def evaluate(
    session: Session,
    config: Config,
    *,
    now: datetime,
    detail: bool = True,
) -> Report:
    """Run every check. ``detail=False`` (HealthCheckStatus) skips the warning-only counts."""
    report = Report()
    database_check = check_database(session, timeout_seconds=DATABASE_TIMEOUT_SECONDS)
    report.checks.append(database_check)
    if database_check.status == FAIL:
        report.checks.extend(unknown_batches(config))
    else:
        try:
            # all or nothing: a read that breaks half-way leaves no batch out
            report.checks.extend(list(_database_checks(session, config, now=now, detail=detail)))
        except SQLAlchemyError as exc:
            session.rollback()
            database_check.status = FAIL
            database_check.message = f"The database cannot be read: {one_line(exc)}"
            report.checks.extend(unknown_batches(config))
    warn_days = config["CertificateExpiryWarnDays"]
    for component, key, what in (
        ("serverCertificate", "ServerCertificateFile", "certificate"),
        ("trustedCa", "TrustedCaFile", "CA certificate"),
    ):
        result = check_expiry(
            component, config.path_of(key), warn_days=warn_days, now=now, what=what
        )
        if result is not None:
            report.checks.append(result)
    crl = check_crl(
        "crl", config.path_of("CrlFile"), warn_days=config["CrlNextUpdateWarnDays"], now=now
    )
    if crl is not None:
        report.checks.append(crl)
    return report


# the installation time beside every heartbeat row, in one round trip: a one-row subquery
# outer-joined to the heartbeats, so a fresh installation without any still gives its time
_installation = Installation.__table__
_installed_at = (
    select(
        select(_installation.c.created_at)
        .order_by(_installation.c.id)
        .limit(1)
        .scalar_subquery()
        .label("installed_at")
    )
).subquery()
_HEARTBEATS = select(_installed_at.c.installed_at, BatchHeartbeat.__table__).select_from(
    _installed_at.outerjoin(BatchHeartbeat.__table__, true())
)


def _database_checks(
    session: Session, config: Config, *, now: datetime, detail: bool
) -> Iterator[CheckResult]:
    # plain rows (same attribute names as the model): no ORM identity map to build
    rows = session.execute(_HEARTBEATS).all()
    installed_at = rows[0].installed_at
    heartbeats = {row.batch: row for row in rows if row.batch is not None}
    yield check_installation(installed_at)
    yield from batch_checks(config, heartbeats, installed_at=installed_at, now=now)
    # a row per listener host and address, never more: cheap enough for HealthCheckStatus
    listeners = session.execute(
        select(MllpListener.__table__).order_by(MllpListener.hostname, MllpListener.address)
    ).all()
    yield from check_mllp_listeners(listeners, host=socket.gethostname())
    if detail and config["WalArchivingExpected"]:
        if session.get_bind().dialect.name == "postgresql":
            minutes = config["WalArchiveWarnAfterMinutes"]
            ok, message = check_wal_archiving(
                session.connection(), now=now, warn_after_minutes=minutes
            )
            yield check_wal_archive(ok, message, warn_after_minutes=minutes)
    if detail:
        yield check_outbox(failing_count(session))
        quarantined = session.scalar(
            select(func.count())
            .select_from(LabMessage)
            .where(
                LabMessage.status.in_(("rejected", "unmatched")), LabMessage.resolved_at.is_(None)
            )
        )
        yield check_lab_inbox(quarantined or 0)


def batch_checks(
    config: Config,
    heartbeats: Mapping[str, BatchHeartbeat | Row[Any]],
    *,
    installed_at: datetime | None,
    now: datetime,
) -> list[CheckResult]:
    """Every batch's check from its heartbeat row (``heartbeats`` by batch name)."""
    host = socket.gethostname()
    return [
        check_batch(
            spec.name,
            heartbeats.get(spec.name),
            warn_after_minutes=config.warn_after_minutes(spec.name),
            lease_seconds=config["BatchLeaseSeconds"],
            installed_at=installed_at,
            now=now,
            host=host,
        )
        for spec in SPINE
    ]


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)


def one_line(exc: BaseException) -> str:
    """An error as one line for the operator: the driver's first line, never SQL text."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    # SQLAlchemy appends its statement and a link to its docs; neither helps the operator
    first = first.split("[SQL:")[0].split("(Background on this error")[0].strip()
    return f"{type(exc).__name__}: {first}"[:300]
