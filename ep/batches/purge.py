"""PURGE: `ep batch purge`, weekly. Retention periods are the Retain*Days keys in ep.ini."""

from ep.batches.runner import Batch, Context, StepResult, register
from ep.batches.spine import spec_of
from ep.domain.purge import PURGERS, purge_counts


def purge_step(purge):
    """The step deleting one chunk per call with ``purge`` (ep.domain.purge)."""

    def step(ctx: Context) -> StepResult | None:
        deleted = purge(ctx.session, now=ctx.now(), config=ctx.config, limit=ctx.chunk_size())
        return StepResult(succeeded=deleted) if deleted else None  # the runner commits

    return step


def preview(ctx: Context) -> list[str]:
    counts = purge_counts(ctx.session, now=ctx.now(), config=ctx.config)
    return [f"would delete {count} {what} past retention" for what, count in counts.items()]


PURGE = register(
    Batch(
        spec_of("PURGE"),
        steps=tuple(purge_step(purge) for _what, purge, _rows in PURGERS),
        preview=preview,
    )
)
