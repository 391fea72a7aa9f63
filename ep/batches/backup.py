"""BACKUP: `ep batch backup`, nightly. The copy and its manifest are ep.backup's; the
runner adds what every batch has: a run record, the heartbeat the health check reads, the
lease (two backups never run at once) and the exit codes.

The step is one long call (pg_dump of a region's database takes minutes): the runner's
lease thread stamps the heartbeat every few seconds meanwhile, and each stage of the copy
is logged as it starts.
"""

from pathlib import Path

from ep.backup import back_up_and_prune, list_backups
from ep.batches.runner import Batch, Context, StepResult, register
from ep.batches.spine import spec_of


def _folder(ctx: Context) -> Path:
    folder = ctx.config.path_of("BackupDirectory")
    assert folder is not None, "BackupDirectory is empty"  # refused by load_config
    return folder.absolute()


def backup_step(ctx: Context) -> StepResult | None:
    """Write tonight's backup, then delete all but the newest BackupRetainCount."""
    if ctx.state.get("done"):
        return None
    ctx.state["done"] = True
    keep = ctx.config["BackupRetainCount"]
    path, manifest, deleted = back_up_and_prune(
        ctx.session.get_bind().engine,
        folder=_folder(ctx),
        keep=keep,
        now=ctx.now(),
        progress=ctx.log,
    )
    ctx.log(manifest.summary(path))
    for old in deleted:
        ctx.log(f"deleted {old} (BackupRetainCount = {keep})")
    return StepResult(succeeded=1)


def preview(ctx: Context) -> list[str]:
    folder = _folder(ctx)
    kind = ctx.session.get_bind().dialect.name
    return [
        f"would back up the {kind} database into {folder} "
        f"({len(list_backups(folder))} backups there now)",
        f"would keep the newest {ctx.config['BackupRetainCount']} backups",
    ]


BACKUP = register(Batch(spec_of("BACKUP"), steps=(backup_step,), preview=preview))
