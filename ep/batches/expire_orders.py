"""EXPIREORDERS: `ep batch expire-orders`, daily."""

from ep.batches.runner import Batch, Context, StepResult, register
from ep.batches.spine import spec_of
from ep.domain.expiry import expire_offers, expire_orders, overdue_counts


def expire_orders_step(ctx: Context) -> StepResult | None:
    """Expire one chunk of unsampled orders past their expiry."""
    done = expire_orders(ctx.session, now=ctx.now(), limit=ctx.chunk_size())
    return StepResult(succeeded=done) if done else None


def expire_offers_step(ctx: Context) -> StepResult | None:
    """Expire one chunk of active offers past their end date."""
    done = expire_offers(ctx.session, now=ctx.now(), limit=ctx.chunk_size())
    return StepResult(succeeded=done) if done else None


def preview(ctx: Context) -> list[str]:
    orders, offers = overdue_counts(ctx.session, now=ctx.now())
    return [
        f"would expire {orders} unsampled orders past their expiry date",
        f"would expire {offers} offers past their end date",
    ]


EXPIREORDERS = register(
    Batch(
        spec_of("EXPIREORDERS"),
        steps=(expire_orders_step, expire_offers_step),
        preview=preview,
    )
)
