"""The step NOTIFYREMINDERS and NOTIFYRESULTS end with: send what the outbox holds."""

from ep.batches.runner import Context, StepResult
from ep.domain.notifications import pending_count, send_due

# rows claimed at once: one claim statement per CLAIM_SIZE messages; each message is still
# recorded (and committed) before the next one goes
CLAIM_SIZE = 50


def send_pending(ctx: Context) -> StepResult | None:
    """Send the next few due notifications (claimed at once, each recorded and committed)."""
    if "announced" not in ctx.state:
        ctx.expect(pending_count(ctx.session, now=ctx.now()))
        ctx.session.commit()
        ctx.state["announced"] = True
    outcome = send_due(
        ctx.session,
        ctx.config,
        claimant=ctx.claimant,
        now=ctx.now(),
        limit=min(ctx.chunk_size(), CLAIM_SIZE),
        stopping=lambda: ctx.stopping,
    )
    if outcome is None:
        return None
    return StepResult(succeeded=outcome.sent, failed=outcome.failed)


def preview_sending(ctx: Context) -> str:
    return f"would send {pending_count(ctx.session, now=ctx.now())} notifications due now"
