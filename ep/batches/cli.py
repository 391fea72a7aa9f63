"""`ep batch …`: run a batch, see how the batches are doing, print scheduler entries.

Exit codes (DESIGN.md section 13): 0 succeeded, 1 failed (the health check turns red),
2 usage or configuration error, 75 another live run of the same batch holds the lock.
"""

import contextlib
import getpass
import os
import socket
import sys
import time
from pathlib import Path
from typing import TextIO

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from ep.batches.runner import (
    EXIT_FAILED,
    EXIT_LOCKED,
    Batch,
    BatchLocked,
    Reporter,
    RunOutcome,
    batch_session,
    load_batch,
    run_batch,
)
from ep.batches.schedule import (
    RENDERERS,
    Install,
    enable_command,
    entries,
    write_systemd,
)
from ep.batches.spine import SPINE, find_spec
from ep.extensions import db
from ep.healthcheck.checks import (
    FAIL,
    batch_checks,
    check_installation,
    one_line,
    read_state,
    stopped_run,
)
from ep.models import BatchHeartbeat, BatchRun
from ep.texts import english
from ep.timeutil import format_local, utcnow

HEALTH_WORDS = {"pass": "OK", "warn": "WARN", "fail": "ERROR"}
PROGRESS_LOG_SECONDS = 30  # a plain log line about progress this often under cron


class BatchGroup(AppGroup):
    """`ep batch`: a batch's own command (`ep batch notify-reminders`) is made when it is
    asked for, importing that batch's module only: `ep batch status` and the run of one
    batch do not import the others (lab formats, notification texts, backups)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *(spec.command for spec in SPINE)])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)  # status, history, schedule, or made
        if command is not None:
            return command
        spec = next((spec for spec in SPINE if spec.command == cmd_name), None)
        batch = load_batch(spec) if spec is not None else None
        if batch is None:
            return None
        command = _run_command(batch)
        self.add_command(command)
        return command


@click.group("batch", cls=BatchGroup)
def batch_cli() -> None:
    """Run the scheduled batches and see how they are doing."""


class TerminalReporter(Reporter):
    """A live progress bar on the terminal (stderr); messages print above it."""

    def __init__(self, batch: Batch, stream=None):
        self.batch, self.stream = batch, stream or sys.stderr
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.line = ""

    def log(self, message: str) -> None:
        self._clear()
        click.echo(message, file=self.stream)
        self._draw(self.line)

    def progress(self, step: int, steps: int, done: int, expected: int | None) -> None:
        if time.monotonic() - self.last_draw < 0.1 and done != expected:
            return
        rate = done / max(time.monotonic() - self.started, 1e-6)
        label = f"{self.batch.name} {step}/{steps}"
        if expected:
            filled = min(int(30 * done / expected), 30)
            bar = "#" * filled + "-" * (30 - filled)
            line = f"{label} [{bar}] {done:,}/{expected:,} {rate:,.0f}/s"
        else:
            line = f"{label} {done:,} done {rate:,.0f}/s"
        self._draw(line)

    def _draw(self, line: str) -> None:
        self.line, self.last_draw = line, time.monotonic()
        if line:
            click.echo(f"\r{line}\x1b[K", file=self.stream, nl=False)

    def _clear(self) -> None:
        if self.line:
            click.echo("\r\x1b[K", file=self.stream, nl=False)

    def close(self) -> None:
        if self.line:
            click.echo("", file=self.stream)
            self.line = ""


class LogReporter(Reporter):
    """Plain timestamped lines on stderr (journald), or appended to a --log-file (cron:
    a run that succeeds then mails nothing)."""

    def __init__(self, batch: Batch, stream=None):
        self.batch, self.stream = batch, stream or sys.stderr
        self.last_line = time.monotonic()

    def log(self, message: str) -> None:
        stamp = format_local(utcnow(), "%Y-%m-%d %H:%M:%S")
        click.echo(f"{stamp} {message}", file=self.stream)

    def progress(self, step: int, steps: int, done: int, expected: int | None) -> None:
        if time.monotonic() - self.last_line < PROGRESS_LOG_SECONDS:
            return
        self.last_line = time.monotonic()
        of = f" of {expected:,}" if expected else ""
        self.log(f"{self.batch.name}: step {step} of {steps}: {done:,}{of} items done")


def summary_line(batch: Batch, outcome: RunOutcome) -> str:
    """The one line a run ends with."""
    if outcome.status == "dry-run":
        return f"{batch.name}: dry run, nothing was changed"
    # notifications queued are counted apart from those sent (succeeded)
    queued = f"{outcome.queued:,} queued, " if outcome.queued else ""
    counts = (
        f"{outcome.processed:,} items ({queued}{outcome.succeeded:,} succeeded, "
        f"{outcome.failed:,} failed, {outcome.skipped:,} skipped)"
    )
    head = f"{batch.name} run {outcome.run_id} {outcome.status} in {outcome.seconds:.1f} s"
    if outcome.status == "failed":
        return (
            f"{head}: {counts}; {outcome.error_type}: {outcome.error_message}; "
            f"rerun with: ep batch {batch.command}"
        )
    return f"{head}: {counts}"


def _run_command(batch: Batch) -> click.Command:
    @click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
    @click.option(
        "--limit",
        type=click.IntRange(min=1),
        metavar="N",
        help="Do at most N items in each step, then stop (the rest waits for the next run).",
    )
    @click.option(
        "--log-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Append the run's log here; only a failure's one line goes to stderr (cron).",
    )
    def command(dry_run: bool, limit: int | None, log_file: Path | None) -> None:
        config = current_app.config["EP"]
        with contextlib.ExitStack() as stack:
            stream: TextIO
            if log_file is not None:
                log_file.parent.mkdir(parents=True, exist_ok=True)
                stream = stack.enter_context(log_file.open("a", encoding="utf-8"))
                reporter: Reporter = LogReporter(batch, stream)
            elif sys.stderr.isatty():
                stream, reporter = sys.stderr, TerminalReporter(batch)
            else:
                stream, reporter = sys.stderr, LogReporter(batch)
            try:
                outcome = _run(batch, config, dry_run=dry_run, limit=limit, reporter=reporter)
            except BatchLocked as exc:  # not a failure: with a log file, cron mails nothing
                click.echo(f"ep: {exc}", file=stream if log_file else sys.stderr)
                sys.exit(EXIT_LOCKED)
            for line in outcome.preview:
                click.echo(line)
            line = summary_line(batch, outcome)
            if log_file is None:
                click.echo(line)
            else:
                reporter.log(line)
                if outcome.exit_code:
                    click.echo(f"ep: {line}", err=True)
        sys.exit(outcome.exit_code)

    return click.command(batch.command, help=batch.help)(with_appcontext(command))


def _run(batch: Batch, config, *, dry_run: bool, limit: int | None, reporter) -> RunOutcome:
    """Run ``batch``; raise BatchLocked if a live run holds it; a start the database
    refuses exits 1 with its one line."""
    with batch_session(db.engine) as session:
        try:
            outcome = run_batch(
                batch,
                session=session,
                config=config,
                limit=limit,
                dry_run=dry_run,
                reporter=reporter,
            )
        except BatchLocked:
            raise
        except Exception as exc:  # the database is down, say: nothing was started
            click.echo(f"ep: {batch.name} could not start: {one_line(exc)}", err=True)
            sys.exit(EXIT_FAILED)
    return outcome


@batch_cli.command("status")
def status() -> None:
    """Show each batch: last activity, threshold and health (exit 1 if any is ERROR).

    The health is the health check's own evaluation (ep.healthcheck), read from the same
    one heartbeat row per batch.
    """
    config = current_app.config["EP"]
    now = utcnow()
    installed, heartbeats, _listeners = read_state(db.session())
    installation = check_installation(installed)
    if installation.status == FAIL:
        click.echo(f"ERROR: {installation.message}")
    click.echo(f"{'BATCH':<16} {'LAST ACTIVITY':<25} {'WARN AFTER':>10}  HEALTH")
    healthy = installation.status != FAIL
    for health in batch_checks(config, heartbeats, installed_at=installed, now=now):
        healthy = healthy and health.status != FAIL
        last = format_local(health.last_activity, "%Y-%m-%d %H:%M:%S %z") or "never"
        word = HEALTH_WORDS[health.status]
        click.echo(
            f"{health.component:<16} {last:<25} {health.threshold:>10}  {word}: {health.message}"
        )
    sys.exit(0 if healthy else EXIT_FAILED)


@batch_cli.command("history")
@click.argument("name")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, metavar="N")
def history(name: str, limit: int) -> None:
    """Show the latest runs of batch NAME (NOTIFYREMINDERS or notify-reminders), newest first.

    A run still marked running whose heartbeat is older than BatchLeaseSeconds (or whose
    process on this host is gone) shows as stopped?, ending at its last heartbeat.
    """
    spec = find_spec(name)
    if spec is None:
        known = ", ".join(known.command for known in SPINE)
        raise click.BadParameter(f"no batch {name!r} (known: {known})", param_hint="NAME")
    runs = db.session.scalars(
        select(BatchRun)
        .where(BatchRun.batch == spec.name)
        .order_by(BatchRun.started_at.desc(), BatchRun.id.desc())
        .limit(limit)
    ).all()
    if not runs:
        click.echo(f"{spec.name} has not run yet")
        return
    heartbeat = db.session.get(BatchHeartbeat, spec.name)
    lease = current_app.config["EP"]["BatchLeaseSeconds"]
    stopped = (
        stopped_run(heartbeat, lease, now=utcnow(), host=socket.gethostname())
        if heartbeat is not None
        else None
    )
    click.echo(
        f"{'RUN':>6}  {'STARTED':<24}  {'SECONDS':>8}  {'STATUS':<9}  {'QUEUED':>8}  "
        f"{'SUCCEEDED':>9}  {'FAILED':>6}  {'SKIPPED':>7}  HOST (PID)  ERROR"
    )
    for run in runs:
        state, ended = run.status, run.finished_at
        error = f"{run.error_type}: {run.error_message}" if run.error_type else ""
        if stopped and run.status == "running" and stopped.run_id == run.id:
            # not yet taken over, but dead: it ended at its last heartbeat
            state, ended, error = "stopped?", stopped.last_heartbeat, english(stopped.why)
        seconds = f"{(ended - run.started_at).total_seconds():.1f}" if ended else "-"
        started = format_local(run.started_at, "%Y-%m-%d %H:%M:%S %z")
        click.echo(
            f"{run.id:>6}  {started:<24}  {seconds:>8}  {state:<9}  {run.queued:>8}  "
            f"{run.succeeded:>9}  {run.failed:>6}  {run.skipped:>7}  "
            f"{run.host} ({run.pid})  {error}".rstrip()
        )


def ep_executable() -> str:
    """The path of this installation's `ep` command."""
    invoked = Path(sys.argv[0])
    if invoked.name in ("ep", "ep.exe") and invoked.exists():
        return str(invoked.resolve())
    return str(Path(sys.executable).with_name("ep"))


def service_account() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


@batch_cli.command("schedule")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(RENDERERS)),
    default="cron",
    show_default=True,
    help="Which scheduler to print entries for.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --format systemd: write the unit files into this folder instead.",
)
def schedule(fmt: str, out: Path | None) -> None:
    """Print ready-to-paste scheduler entries for every batch, with this installation's paths."""
    config = current_app.config["EP"]
    install = Install(
        ep=ep_executable(),
        config=str(config.path),
        user=service_account(),
        log=str(config.instance_path / "log" / "batches.log"),
    )
    if out is None:
        click.echo(RENDERERS[fmt](entries(), install), nl=False)
        return
    if fmt != "systemd":
        raise click.BadParameter("only --format systemd writes files", param_hint="--out")
    for path in write_systemd(entries(), install, out):
        click.echo(f"wrote {path}")
    click.echo(f"then: {enable_command(entries())}")
