"""The batches a scheduler starts (`ep batch …`) and the runner they share.

Each batch module registers its Batch with ep.batches.runner.register when imported;
load_batches() imports them all.
"""

import importlib

from ep.batches.runner import Batch, registered

BATCH_MODULES = (
    "ep.batches.notify_reminders",
    "ep.batches.import_results",
    "ep.batches.notify_results",
    "ep.batches.expire_orders",
    "ep.batches.purge",
)


def load_batches() -> list[Batch]:
    """Import every batch module (each registers itself); return the registered batches."""
    for name in BATCH_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # a batch whose module is not in this build yet (branches land one by one)
            if exc.name != name:
                raise
    return registered()


def find_batch(name: str) -> Batch | None:
    """The batch called ``name``: its configuration name (NOTIFYREMINDERS) or command."""
    for batch in load_batches():
        if name in (batch.name, batch.command) or name.upper() == batch.name:
            return batch
    return None
