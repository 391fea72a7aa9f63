"""The batches a scheduler starts (`ep batch …`) and the runner they share.

Each batch module registers its Batch with ep.batches.runner.register when imported;
load_batches() imports them all.
"""

import importlib

from ep.batches.runner import Batch, registered

# the `ep batch` command of each batch (ep.config.BATCHES), for messages and runbooks
COMMANDS = {
    "NOTIFYREMINDERS": "notify-reminders",
    "IMPORTRESULTS": "import-results",
    "NOTIFYRESULTS": "notify-results",
    "EXPIREORDERS": "expire-orders",
    "PURGE": "purge",
}
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


def batch_name(text: str) -> str | None:
    """The configuration name (NOTIFYREMINDERS) for ``text``, a name or a command."""
    for name, command in COMMANDS.items():
        if text.upper() == name or text == command:
            return name
    return None
