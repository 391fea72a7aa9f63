"""The health checks: pure evaluation of what the database and the files say.

A batch is in one of these states (DESIGN.md section 15), shown alike everywhere it is
shown: never run (graced from the installation), running, stopped without finishing (a
running run whose heartbeat is older than BatchLeaseSeconds, or whose process on this host
is gone; ERROR until a run succeeds), failed (ERROR until a run succeeds), late (the
manual's inactivity message), ok; and unknown when the database cannot be read.

Each check gives a CheckResult: ``pass``, ``warn`` or ``fail`` (the IETF health-check
draft's words), a message for the operator, the last activity and the threshold. The
message is an ep.texts Text, shown in the reader's language on the OmniqOperator pages and
in English wherever a machine reads it (``CheckResult.message``). The plain
HealthCheckStatus answers ``ERROR`` when any check fails; a warning keeps it ``OK``.

What HealthCheckStatus reads must not grow with history: one BatchHeartbeat row per batch,
the installation row and the certificate files (parsed again only when they change). The
outbox and lab-inbox counts are warnings only, so they are read for the detail page alone.
"""

import json
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Executable, Row, Table, cast, func, null, select, text, true, union_all
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql.elements import Label

from ep.backup.archiving import check_wal_archiving
from ep.batches.runner import STOPPED, process_gone
from ep.batches.spine import BATCHES, SPINE, spec_of
from ep.config import Config
from ep.database import Reader, execute_retrying_once
from ep.domain.notifications import failing_count
from ep.files import write_atomically
from ep.models import BatchHeartbeat, Installation, LabMessage, MllpListener
from ep.texts import Code, Message, Number, Quoted, Text, english, msg, plural_msg

PASS, WARN, FAIL = "pass", "warn", "fail"
DATABASE_TIMEOUT_SECONDS = 5
# the manual's words (section 3), with ep.ini where the manual says web.config. Quoted as
# written on every page: the Swedish manual gives this message in English too
INACTIVITY_MESSAGE = (
    "Configured to warn after {minutes} minutes inactivity. Time is NOT within warning "
    "limits defined in ep.ini. Check task scheduler to see if batch is running."
)
NOT_INSTALLED_MESSAGE = msg("EP är inte installerat i den här databasen: kör `ep init`.")
DATABASE_UNAVAILABLE = msg("inte kontrollerad: databasen går inte att nå")
PROCESS_GONE = msg("dess process finns inte längre")


@dataclass(frozen=True)
class StoppedRun:
    """A run still marked running that has stopped without finishing: shown ended at its
    last heartbeat, with why (``ep batch history``, the OmniqOperator runs table)."""

    run_id: int
    last_heartbeat: datetime
    why: Text


@dataclass
class CheckResult:
    """One check's outcome, as the detail page, the JSON, Prometheus and Nagios show it."""

    component: str  # database, NOTIFYREMINDERS, notifications, serverCertificate …
    measurement: str  # responseTime, inactivity, failed, expiry …
    status: str  # pass | warn | fail
    text: Message  # in the reader's language: ep.texts.render
    component_type: str = "component"  # the draft's: component, datastore or system
    last_activity: datetime | None = None
    last_success: datetime | None = None
    threshold: Message | None = None  # "1500 min", "30 dagar"
    observed_value: float | None = None
    observed_unit: str | None = None
    command: str | None = None  # what the operator runs to fix it
    stopped: StoppedRun | None = None  # a batch's run still marked running, stopped in fact

    @property
    def message(self) -> str:
        """The message in English, as ``ep check``, ``ep batch status`` and logs give it."""
        return english(self.text)

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


def _when(value: datetime | None) -> datetime | Text:
    """A time for a message (ep.texts shows it in Stockholm, with its offset), or never."""
    return value if value else msg("aldrig")


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
    inactivity = Quoted(INACTIVITY_MESSAGE.format(minutes=warn_after_minutes))
    rerun = msg("Kör om den: %(command)s", command=Code(command))

    if last is None:
        if installed_at is None or now - installed_at <= threshold:
            result.text = [msg("Har inte körts än.")]
            if installed_at:
                result.text.append(
                    msg("Första körningen väntas senast %(when)s.", when=installed_at + threshold)
                )
            return result
        result.status = FAIL
        result.observed_value = _minutes(now - installed_at)
        result.text = [
            inactivity,
            msg(
                "Senaste aktivitet: aldrig (installerat %(when)s). Starta den: %(command)s",
                when=installed_at,
                command=Code(command),
            ),
        ]
        return result
    assert heartbeat is not None  # ``last`` is its last activity

    silent_for = now - last
    result.observed_value = _minutes(silent_for)
    running = heartbeat.running_run_id is not None
    messages: list[Text | Quoted] = []
    last_activity = msg("Senaste aktivitet: %(when)s.", when=last)
    stopped = stopped_run(heartbeat, lease_seconds, now=now, host=host)
    if stopped:
        result.status, result.stopped = FAIL, stopped
        messages += [
            msg(
                "%(batch)s körning %(run)s på %(host)s (pid %(pid)s) stannade utan att bli "
                "klar: %(reason)s; senaste livstecken %(when)s.",
                batch=batch,
                run=heartbeat.running_run_id,
                host=Code(heartbeat.running_host or "?"),
                pid=heartbeat.running_pid or "?",
                reason=stopped.why,
                when=last,
            ),
            rerun,
        ]
    elif heartbeat.last_outcome in ("failed", STOPPED):
        result.status = FAIL
        error = ": ".join(
            part for part in (heartbeat.last_error_type, heartbeat.last_error_message) if part
        )
        values = {
            "when": heartbeat.last_failure_at or last,
            "error": Code(error) if error else msg("inget fel registrerat"),
        }
        if heartbeat.last_outcome == STOPPED:
            latest = msg(
                "Senaste körningen stannade utan att bli klar %(when)s: %(error)s.", **values
            )
        else:
            latest = msg("Senaste körningen misslyckades %(when)s: %(error)s.", **values)
        messages.append(latest)
        if running:
            messages.append(msg("Körning %(run)s pågår nu.", run=heartbeat.running_run_id))
        messages += [msg("%(error)s tills en körning lyckas.", error=Code("ERROR")), rerun]
        if silent_for > threshold:
            messages += [inactivity, last_activity]
    elif silent_for > threshold:
        result.status = FAIL
        messages += [inactivity, last_activity]
    elif running:
        messages.append(msg("Senaste aktivitet %(when)s; körs nu.", when=last))
    else:
        messages.append(msg("Senaste aktivitet %(when)s; senaste körningen lyckades.", when=last))
    result.text = messages
    return result


def stalled_because(
    heartbeat: BatchHeartbeat | Row[Any], lease_seconds: int, *, now: datetime, host: str | None
) -> Text | None:
    """Why the running run of ``heartbeat`` has stopped without finishing; None if alive."""
    if heartbeat.last_activity_at is None or heartbeat.running_run_id is None:
        return None
    if host is not None and process_gone(heartbeat.running_host, heartbeat.running_pid, host):
        return PROCESS_GONE
    if now - heartbeat.last_activity_at > timedelta(seconds=lease_seconds):
        return msg(
            "inget livstecken på längre än %(setting)s (%(seconds)s s)",
            setting=Code("BatchLeaseSeconds"),
            seconds=lease_seconds,
        )
    return None


def stopped_run(
    heartbeat: BatchHeartbeat | Row[Any], lease_seconds: int, *, now: datetime, host: str | None
) -> StoppedRun | None:
    """The run ``heartbeat`` says is running, if it has in fact stopped; None if alive."""
    why = stalled_because(heartbeat, lease_seconds, now=now, host=host)
    if why is None or heartbeat.running_run_id is None or heartbeat.last_activity_at is None:
        return None
    return StoppedRun(heartbeat.running_run_id, heartbeat.last_activity_at, why)


def check_installation(installed_at: datetime | None) -> CheckResult:
    """The installation record `ep init` writes: without it nothing here can be judged."""
    if installed_at is None:
        return CheckResult(
            "installation", "installed", FAIL, NOT_INSTALLED_MESSAGE, command="ep init"
        )
    return CheckResult(
        "installation", "installed", PASS, msg("EP installerades %(when)s.", when=installed_at)
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


def check_database(
    session: Reader, *, timeout_seconds: int, probe: Executable | None = None
) -> tuple[CheckResult, Sequence[Row[Any]]]:
    """The database's response time to ``probe`` (its rows returned too), else to SELECT 1.

    HealthCheckStatus probes with its first read of the checks themselves, one statement
    fewer per poll; its engine gives every connection the statement timeout
    (ep.database.operator_engine). Without ``probe`` on PostgreSQL the SELECT 1 also sets
    the timeout for the rest of the transaction.
    """
    started = time.perf_counter()
    try:
        if probe is not None:
            statement, params = probe, None
        elif session.get_bind().dialect.name == "postgresql":
            # the SELECT 1 that also bounds every later statement of this request's
            # transaction (SET LOCAL as a function, one round trip instead of two); the
            # operator pages' autocommit engine has the same timeout for each connection
            statement, params = _SET_TIMEOUT, {"ms": str(int(timeout_seconds * 1000))}
        else:
            statement, params = _SELECT_1, None
        # a pooled connection the database dropped is not an unreachable database
        rows = execute_retrying_once(session, statement, params).all()
    except SQLAlchemyError as exc:
        session.rollback()
        failed = CheckResult(
            "database",
            "responseTime",
            FAIL,
            msg("Databasen går inte att nå: %(error)s", error=Code(one_line(exc))),
            component_type="datastore",
            threshold=f"{timeout_seconds} s",
        )
        return failed, []
    elapsed_ms = (time.perf_counter() - started) * 1000
    answered = CheckResult(
        "database",
        "responseTime",
        PASS,
        msg("Databasen svarade på %(ms)s ms.", ms=Number(elapsed_ms, "0.0")),
        component_type="datastore",
        threshold=f"{timeout_seconds} s",
        observed_value=round(elapsed_ms, 2),
        observed_unit="ms",
    )
    return answered, rows


def _count_check(
    component: str, measurement: str, count: int, warning: Text, fine: Text
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
        plural_msg(
            "%(num)d avisering kunde inte levereras (status %(status)s, t.ex. ett felaktigt "
            "mobilnummer eller en felaktig e-postadress). Invånaren ser den ändå i sin inkorg.",
            "%(num)d aviseringar kunde inte levereras (status %(status)s, t.ex. ett felaktigt "
            "mobilnummer eller en felaktig e-postadress). Invånarna ser dem ändå i sin inkorg.",
            failed,
            status=Code("failed"),
        ),
        msg("Inga misslyckade aviseringar."),
    )


def check_lab_inbox(quarantined: int) -> CheckResult:
    """Lab messages rejected or not matched to an order, not yet resolved — a warning."""
    return _count_check(
        "labInbox",
        "quarantined",
        quarantined,
        plural_msg(
            "%(num)d labbmeddelande är i karantän (avvisat eller omatchat) och väntar på att "
            "personalen kopplar det till en beställning eller att labbet skickar det igen.",
            "%(num)d labbmeddelanden är i karantän (avvisade eller omatchade) och väntar på att "
            "personalen kopplar dem till en beställning eller att labbet skickar dem igen.",
            quarantined,
        ),
        msg("Inga labbmeddelanden i karantän."),
    )


CERTIFICATE, CA_CERTIFICATE = msg("certifikatet"), msg("CA-certifikatet")


def _days_left(
    component: str, path: Path, kind: str, *, warn_days: int, now: datetime
) -> tuple[CheckResult, datetime | None]:
    """A passing result with the days left until ``path``'s date, and that date; a failing
    result and None when the file cannot be read."""
    threshold = plural_msg("%(num)d dag", "%(num)d dagar", warn_days)
    result = CheckResult(component, "expiry", PASS, "", threshold=threshold, observed_unit="days")
    try:
        due = _expiry_of(path, kind)
    except (OSError, ValueError) as exc:
        result.status = FAIL
        result.text = msg(
            "%(file)s kan inte läsas: %(error)s", file=Code(str(path)), error=Code(one_line(exc))
        )
        return result, None
    result.observed_value = round((due - now).total_seconds() / 86400, 1)
    return result, due


def check_expiry(
    component: str,
    path: Path | None,
    *,
    warn_days: int,
    now: datetime,
    what: Text = CERTIFICATE,
) -> CheckResult | None:
    """The earliest expiry among the certificates in ``path``."""
    if path is None:
        return None
    result, expires = _days_left(component, path, "certificate", warn_days=warn_days, now=now)
    if expires is None:
        return result
    days = result.observed_value
    assert days is not None  # _days_left set it with the date
    values = {"what": what, "file": Code(path.name), "when": expires}
    if expires < now:
        result.status = FAIL
        result.text = msg("I %(file)s gick %(what)s ut %(when)s. Förnya det.", **values)
    elif days < warn_days:
        result.status = WARN
        result.text = msg(
            "I %(file)s går %(what)s ut %(when)s, om %(days)s dagar. Förnya det i tid.",
            days=Number(days, "0"),
            **values,
        )
    else:
        result.text = msg("I %(file)s går %(what)s ut %(when)s.", **values)
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
    values = {"file": Code(path.name), "when": next_update}
    if next_update < now:
        result.status = FAIL
        result.text = msg(
            "Spärrlistan i %(file)s gick ut %(when)s (dess nästa uppdatering): alla "
            "certifikat från dess CA nekas tills en ny spärrlista från CA:t installeras.",
            **values,
        )
    elif days < warn_days:
        result.status = WARN
        result.text = msg(
            "Spärrlistan i %(file)s måste bytas senast %(when)s, om %(days)s dagar; "
            "därefter nekas alla certifikat från dess CA.",
            days=Number(days, "0.0"),
            **values,
        )
    else:
        result.text = msg("Spärrlistan i %(file)s uppdateras nästa gång %(when)s.", **values)
    return result


# the dates read from the certificate and CRL files, by file and what it is (_expiry_key)
_expiry_cache: dict[tuple[str, int, int, int, str], datetime] = {}
EXPIRY_CACHE_FILE = "certificate-expiries.json"  # in the instance folder, for `ep check`


def _expiry_key(path: Path, kind: str) -> tuple[str, int, int, int, str]:
    """The file as it is now: a file rewritten, or another renamed into its place, has
    another change time (ctime) even where its modification time and size are the same."""
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, kind)


def _expiry_of(path: Path, kind: str) -> datetime:
    key = _expiry_key(path, kind)
    if key not in _expiry_cache:
        # imported only when a file must be read: cryptography takes ~20 ms of CPU to
        # import, which `ep batch status` (reads no file) and `ep check` with the files
        # unchanged since its last run (expiries_remembered) need not pay
        from ep.identity.certificates import load_certificates, load_crls

        if kind == "crl":
            value = min(crl.next_update_utc for crl in load_crls(path) if crl.next_update_utc)
        else:
            value = min(cert.not_valid_after_utc for cert in load_certificates(path))
        _expiry_cache[key] = value
    return _expiry_cache[key]


@contextmanager
def expiries_remembered(path: Path) -> Iterator[None]:
    """Keep the certificate and CRL dates read inside this block in the file ``path`` for
    the next process, and use those it kept for the last one.

    `ep check` is a new process every minute; without this each run would parse the same
    files again. A date holds while its file is as it was (_expiry_key). The file is only
    a cache: when it cannot be read or written, the certificates are read.
    """
    try:
        for name, mtime_ns, ctime_ns, size, kind, when in json.loads(path.read_bytes()):
            _expiry_cache[(name, mtime_ns, ctime_ns, size, kind)] = datetime.fromisoformat(when)
    except (OSError, ValueError, TypeError):  # none yet, or not ours: read the files
        pass
    known = set(_expiry_cache)
    yield
    if set(_expiry_cache) == known:
        return
    current = []
    for key, when in _expiry_cache.items():  # the files as they are now, no older dates
        name, *_, kind = key
        try:
            if _expiry_key(Path(name), kind) == key:
                current.append([*key, when.isoformat()])
        except OSError:  # the file is gone
            pass
    try:
        write_atomically(path, json.dumps(current).encode())
    except OSError:  # a monitor's account may not write there: it reads the files each time
        pass


def check_wal_archive(ok: bool, message: Text, *, warn_after_minutes: int) -> CheckResult:
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
        values = {
            "address": Code(row.address),
            "host": Code(row.hostname),
            "since": _when(row.listening_since),
            "last": _when(row.last_message_at),
            "stopped": _when(row.stopped_at),
        }
        if row.id in dead:
            result.status = FAIL
            result.text = msg(
                "MLLP-mottagaren på %(address)s (%(host)s, pid %(pid)s) stannade utan att bli "
                "klar: %(reason)s; den hade lyssnat sedan %(since)s, senaste meddelandet "
                "%(last)s. Starta den igen.",
                pid=row.pid,
                reason=PROCESS_GONE,
                **values,
            )
        elif row.listening_since is not None:
            result.text = msg(
                "MLLP-mottagaren på %(address)s (%(host)s) lyssnar sedan %(since)s, "
                "%(messages)s meddelanden, det senaste %(last)s.",
                messages=row.messages,
                **values,
            )
        elif anyone_listening:
            result.text = msg(
                "MLLP-mottagaren på %(address)s (%(host)s) stoppades %(stopped)s; en annan "
                "mottagare lyssnar.",
                **values,
            )
        else:
            result.status = WARN
            result.text = msg(
                "MLLP-mottagaren på %(address)s stoppades %(stopped)s (%(host)s); ingen "
                "mottagare tar emot labbsvar över MLLP.",
                **values,
            )
        results.append(result)
    return results


# -- reading and evaluating --


def evaluate(
    session: Reader,
    config: Config,
    *,
    now: datetime,
    detail: bool = True,
) -> Report:
    """Run every check. ``detail=False`` (HealthCheckStatus) skips the warning-only counts,
    and times its one read of the heartbeats and listeners as the database check instead of
    a SELECT 1."""
    report = Report()
    database_check, state = check_database(
        session, timeout_seconds=DATABASE_TIMEOUT_SECONDS, probe=None if detail else _STATE
    )
    report.checks.append(database_check)
    if database_check.status == FAIL:
        report.checks.extend(unknown_batches(config))
    else:
        try:
            # all or nothing: a read that breaks half-way leaves no batch out
            checks = _database_checks(
                session, config, now=now, detail=detail, state=None if detail else state
            )
            report.checks.extend(list(checks))
        except SQLAlchemyError as exc:
            session.rollback()
            database_check.status = FAIL
            database_check.text = msg(
                "Databasen kan inte läsas: %(error)s", error=Code(one_line(exc))
            )
            report.checks.extend(unknown_batches(config))
    warn_days = config["CertificateExpiryWarnDays"]
    for component, key, what in (
        ("serverCertificate", "ServerCertificateFile", CERTIFICATE),
        ("trustedCa", "TrustedCaFile", CA_CERTIFICATE),
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


# Every row HealthCheckStatus reads, in one round trip: the installation time beside each
# heartbeat row and each MLLP listener row. The installation is a one-row subquery
# outer-joined to the heartbeats, so a fresh installation without any still gives its
# time; the two tables' rows are one UNION ALL, each padded with NULLs for the other's
# columns (their names differ, so each row reads like its model: row.batch, row.hostname).
# Built once: making the statement again on every health check cost as much as running it.
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
_heartbeats, _listeners = BatchHeartbeat.__table__, MllpListener.__table__


def _none_of(table: Table) -> list[Label[Any]]:
    """A typed NULL for each of ``table``'s columns, named as the column."""
    return [cast(null(), column.type).label(column.name) for column in table.columns]


_STATE = union_all(
    select(_installed_at.c.installed_at, *_heartbeats.columns, *_none_of(_listeners)).select_from(
        _installed_at.outerjoin(_heartbeats, true())
    ),
    select(_installed_at.c.installed_at, *_none_of(_heartbeats), *_listeners.columns).select_from(
        _installed_at.join(_listeners, true())
    ),
)


def _database_checks(
    session: Reader,
    config: Config,
    *,
    now: datetime,
    detail: bool,
    state: Sequence[Row[Any]] | None,  # the rows of _STATE, if read already
) -> Iterator[CheckResult]:
    installed_at, by_batch, listeners = read_state(session, state)
    yield check_installation(installed_at)
    yield from batch_checks(config, by_batch, installed_at=installed_at, now=now)
    # a row per listener host and address, never more: cheap enough for HealthCheckStatus
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


def read_state(
    session: Reader, rows: Sequence[Row[Any]] | None = None
) -> tuple[datetime | None, dict[str, Row[Any]], list[Row[Any]]]:
    """When EP was installed, each batch's heartbeat row by batch name, and the MLLP
    listeners' rows by host and address: from ``rows`` of _STATE if read already, else
    read now in one round trip.

    Plain rows (the models' attribute names): no ORM identity map to build, and no ORM
    mappers to configure, which alone would cost `ep batch status` ~20 ms at start.
    """
    if rows is None:
        rows = session.execute(_STATE).all()
    by_batch = {row.batch: row for row in rows if row.batch is not None}
    listeners = sorted((row for row in rows if row.id is not None), key=_host_and_address)
    return rows[0].installed_at, by_batch, listeners


def _host_and_address(row: Row[Any]) -> tuple[str, str]:
    return (row.hostname, row.address)


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
