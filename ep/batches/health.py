"""How a batch is doing, from its one heartbeat row (what `ep batch status` prints).

The rules are the health check's (DESIGN.md section 7): a batch is ERROR when it has been
inactive longer than <NAME>WarnAfterMinutesInactivity (a batch that never ran is measured
from the installation), when its latest run failed, or when a run is marked running but
its heartbeat has gone silent for longer than the threshold.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from ep.models import BatchHeartbeat
from ep.timeutil import format_local

INACTIVITY_MESSAGE = (
    "Configured to warn after {minutes} minutes inactivity. Time is NOT within warning "
    "limits defined in ep.ini. Check task scheduler to see if batch is running."
)


@dataclass(frozen=True)
class BatchHealth:
    batch: str
    ok: bool
    message: str
    last_activity_at: datetime | None
    warn_after_minutes: int


def batch_health(
    name: str,
    heartbeat: BatchHeartbeat | None,
    *,
    warn_after_minutes: int,
    installed_at: datetime | None,
    now: datetime,
    rerun: str,
) -> BatchHealth:
    """Evaluate one batch; ``rerun`` is the command the operator runs to retry it."""
    threshold = timedelta(minutes=warn_after_minutes)
    last_activity = heartbeat.last_activity_at if heartbeat else None

    def result(ok: bool, message: str) -> BatchHealth:
        return BatchHealth(name, ok, message, last_activity, warn_after_minutes)

    if heartbeat is not None and heartbeat.running_run_id is not None:
        if last_activity is None or now - last_activity > threshold:
            return result(
                False,
                f"run {heartbeat.running_run_id} on {heartbeat.running_host} "
                f"(pid {heartbeat.running_pid}) is marked running but silent since "
                f"{_when(last_activity)}; it has probably died. Rerun: {rerun}",
            )
    if heartbeat is not None and heartbeat.last_outcome == "failed":
        return result(
            False,
            f"the latest run (run {heartbeat.last_run_id}) failed at "
            f"{_when(heartbeat.last_failure_at)}: {heartbeat.last_error_type}: "
            f"{heartbeat.last_error_message}. Rerun: {rerun}",
        )
    since = last_activity or installed_at
    if since is None or now - since > threshold:
        return result(
            False,
            INACTIVITY_MESSAGE.format(minutes=warn_after_minutes)
            + f" Last activity: {_when(last_activity)}.",
        )
    if heartbeat is not None and heartbeat.running_run_id is not None:
        return result(
            True, f"running: run {heartbeat.running_run_id} since {_when(heartbeat.running_since)}"
        )
    return result(
        True,
        f"last activity {_when(last_activity)}"
        if last_activity
        else "not run yet; the installation is new",
    )


def _when(value: datetime | None) -> str:
    return "never" if value is None else format_local(value, "%Y-%m-%d %H:%M %Z")
