"""NOTIFYRESULTS: `ep batch notify-results`, every few minutes.

Releases results by each package's policy (ep.domain.release) — holding STI positives for
the staff worklist — then sends every notification due, the "result" messages first among
them in the order they were queued.
"""

from ep.batches.runner import Batch, Context, StepResult, register
from ep.batches.sending import preview_sending, send_pending
from ep.batches.spine import spec_of
from ep.domain.release import due_count, settle_due


def release_step(ctx: Context) -> StepResult | None:
    """Release (or hold for contact) one chunk of orders whose results are due."""
    settled = settle_due(ctx.session, now=ctx.now(), limit=ctx.chunk_size())
    if not settled.total:
        ctx.session.rollback()
        return None
    return StepResult(queued=settled.released, skipped=settled.held)


def preview(ctx: Context) -> list[str]:
    return [
        f"would release or hold {due_count(ctx.session, now=ctx.now())} orders with results due",
        preview_sending(ctx),
    ]


NOTIFYRESULTS = register(
    Batch(
        spec_of("NOTIFYRESULTS"),
        steps=(release_step, send_pending),
        preview=preview,
    )
)
