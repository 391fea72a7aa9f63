"""NOTIFYREMINDERS: `ep batch notify-reminders`, once a day.

One queueing step per reminder rule (ep.domain.reminders), then the sending step. Every
reminder has its dedupe key and every chunk is committed as it is done, so a run that
crashed on a deadlock, a timeout or a failing provider is simply run again: it queues what
is missing and sends what is still pending — it takes over where the last run stopped.
"""

from ep.batches.runner import Batch, Context, StepResult, register
from ep.batches.sending import preview_sending, send_pending
from ep.batches.spine import spec_of
from ep.domain.reminders import RULES, due_counts, queue_reminders


def queue_step(kind: str, find):
    """The step that queues one chunk of the ``kind`` reminders per call."""

    def step(ctx: Context) -> StepResult | None:
        found = find(
            ctx.session, now=ctx.now(), after=ctx.state.get("after", 0), limit=ctx.chunk_size()
        )
        if not found:
            # the runner commits: a finder may have corrected what it read (an offer
            # found not due again gets its due_again_at recomputed)
            return None
        queued, existing = queue_reminders(ctx.session, found, now=ctx.now())
        ctx.state["after"] = found[-1].cursor
        return StepResult(queued=queued, skipped=existing)

    return step


def preview(ctx: Context) -> list[str]:
    lines = [
        f"would queue {count} {kind} reminders"
        for kind, count in due_counts(ctx.session, now=ctx.now()).items()
    ]
    return [*lines, preview_sending(ctx)]


NOTIFYREMINDERS = register(
    Batch(
        spec_of("NOTIFYREMINDERS"),
        steps=(*(queue_step(kind, find) for kind, find in RULES), send_pending),
        preview=preview,
    )
)
