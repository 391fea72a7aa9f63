"""The step NOTIFYREMINDERS and NOTIFYRESULTS end with: send what the outbox holds."""

from ep.batches.runner import Context, StepResult
from ep.domain.notifications import pending_count, send_next


def send_pending(ctx: Context) -> StepResult | None:
    """Send the next due notification (claimed atomically, recorded and committed)."""
    if "announced" not in ctx.state:
        ctx.expect(pending_count(ctx.session, now=ctx.now()))
        ctx.session.commit()
        ctx.state["announced"] = True
    outcome = send_next(ctx.session, ctx.config, claimant=ctx.claimant, now=ctx.now())
    if outcome is None:
        return None
    return StepResult(succeeded=1) if outcome == "sent" else StepResult(failed=1)


def preview_sending(ctx: Context) -> str:
    return f"would send {pending_count(ctx.session, now=ctx.now())} notifications due now"
