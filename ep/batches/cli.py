"""`ep batch …`: run a batch, see how the batches are doing, print scheduler entries.

Exit codes (DESIGN.md section 13): 0 succeeded, 1 failed (the health check turns red),
2 usage or configuration error, 75 another live run of the same batch holds the lock.
"""

import getpass
import os
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from ep.batches import COMMANDS, batch_name, load_batches
from ep.batches.runner import (
    EXIT_FAILED,
    EXIT_LOCKED,
    Batch,
    BatchLocked,
    Reporter,
    RunOutcome,
    batch_session,
    error_message_of,
    error_type_of,
    run_batch,
)
from ep.batches.schedule import RENDERERS, entries
from ep.config import BATCHES
from ep.domain.installation import installed_at
from ep.extensions import db
from ep.healthcheck.checks import FAIL, check_batch
from ep.models import BatchHeartbeat, BatchRun
from ep.timeutil import format_local, utcnow

HEALTH_WORDS = {"pass": "OK", "warn": "WARN", "fail": "ERROR"}
PROGRESS_LOG_SECONDS = 30  # a plain log line about progress this often under cron


@click.group("batch", cls=AppGroup)
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
    """Plain timestamped lines on stderr, for cron mail and journald."""

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
    counts = (
        f"{outcome.processed:,} items ({outcome.succeeded:,} succeeded, "
        f"{outcome.failed:,} failed, {outcome.skipped:,} skipped)"
    )
    head = f"{batch.name} run {outcome.run_id} {outcome.status} in {outcome.seconds:.1f} s"
    if outcome.status == "failed":
        return (
            f"{head}: {counts}; {outcome.error_type}: {outcome.error_message}; "
            f"rerun with: ep batch {batch.command}"
        )
    return f"{head}: {counts}"


def _run_command(batch: Batch):
    @click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
    @click.option(
        "--limit",
        type=click.IntRange(min=1),
        metavar="N",
        help="Do at most N items in each step, then stop (the rest waits for the next run).",
    )
    def command(dry_run: bool, limit: int | None) -> None:
        config = current_app.config["EP"]
        interactive = sys.stderr.isatty()
        reporter = TerminalReporter(batch) if interactive else LogReporter(batch)
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
            except BatchLocked as exc:
                click.echo(f"ep: {exc}", err=True)
                sys.exit(EXIT_LOCKED)
            except Exception as exc:  # the database is down, say: nothing was started
                problem = f"{error_type_of(exc)}: {error_message_of(exc)}"
                click.echo(f"ep: {batch.name} could not start: {problem}", err=True)
                sys.exit(EXIT_FAILED)
        for line in outcome.preview:
            click.echo(line)
        click.echo(summary_line(batch, outcome))
        sys.exit(outcome.exit_code)

    return batch_cli.command(batch.command, help=batch.help)(command)


for _batch in load_batches():
    _run_command(_batch)


@batch_cli.command("status")
def status() -> None:
    """Show each batch: last activity, threshold and health (exit 1 if any is ERROR).

    The health is the health check's own evaluation (ep.healthcheck), read from the same
    one heartbeat row per batch.
    """
    config = current_app.config["EP"]
    now = utcnow()
    heartbeats = {hb.batch: hb for hb in db.session.scalars(select(BatchHeartbeat))}
    installed = installed_at(db.session)
    click.echo(f"{'BATCH':<16} {'LAST ACTIVITY':<17} {'WARN AFTER':>10}  HEALTH")
    healthy = True
    for name in BATCHES:
        health = check_batch(
            name,
            heartbeats.get(name),
            warn_after_minutes=config.warn_after_minutes(name),
            installed_at=installed,
            now=now,
        )
        healthy = healthy and health.status != FAIL
        last = format_local(health.last_activity) or "never"
        word = HEALTH_WORDS[health.status]
        minutes = config.warn_after_minutes(name)
        click.echo(f"{name:<16} {last:<17} {minutes:>6} min  {word}: {health.message}")
    sys.exit(0 if healthy else EXIT_FAILED)


@batch_cli.command("history")
@click.argument("name")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, metavar="N")
def history(name: str, limit: int) -> None:
    """Show the latest runs of batch NAME (NOTIFYREMINDERS or notify-reminders), newest first."""
    found = batch_name(name)
    if found is None:
        known = ", ".join(COMMANDS.values())
        raise click.BadParameter(f"no batch {name!r} (known: {known})", param_hint="NAME")
    runs = db.session.scalars(
        select(BatchRun)
        .where(BatchRun.batch == found)
        .order_by(BatchRun.started_at.desc(), BatchRun.id.desc())
        .limit(limit)
    ).all()
    if not runs:
        click.echo(f"{found} has not run yet")
        return
    click.echo(
        f"{'RUN':>6}  {'STARTED':<16}  {'SECONDS':>8}  {'STATUS':<9}  {'DONE':>8}  "
        f"{'OK':>8}  {'FAILED':>6}  {'SKIPPED':>7}  HOST (PID)  ERROR"
    )
    for run in runs:
        seconds = (
            f"{(run.finished_at - run.started_at).total_seconds():.1f}" if run.finished_at else "-"
        )
        error = f"{run.error_type}: {run.error_message}" if run.error_type else ""
        click.echo(
            f"{run.id:>6}  {format_local(run.started_at):<16}  {seconds:>8}  {run.status:<9}  "
            f"{run.processed:>8}  {run.succeeded:>8}  {run.failed:>6}  {run.skipped:>7}  "
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
def schedule(fmt: str) -> None:
    """Print ready-to-paste scheduler entries for every batch, with this installation's paths."""
    config = current_app.config["EP"]
    text = RENDERERS[fmt](
        entries(),
        ep=ep_executable(),
        config=str(config.path),
        user=service_account(),
    )
    click.echo(text, nl=False)
