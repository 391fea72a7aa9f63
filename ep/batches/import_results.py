"""IMPORTRESULTS: `ep batch import-results`, every few minutes.

The work is the inbox itself: each file is one unit of work, recorded and committed
before it leaves the inbox (ep.domain.lab_import), so a rerun after a crash goes on with
the files still there. Counts: imported → succeeded; unmatched (kept for staff) and
rejected (quarantined in error/) → failed; duplicates → skipped.
"""

from ep.batches.runner import Batch, Context, StepResult, register
from ep.domain.lab_import import file_away, inbox_files, receive_file

OUTCOME = {"imported": "succeeded", "unmatched": "failed", "rejected": "failed"}


def import_step(ctx: Context) -> StepResult | None:
    """Import the next chunk of inbox files, committing each one as it is done."""
    state = ctx.state
    if not state.get("files"):
        seen = state.setdefault("seen", set())
        # the inbox again: files that arrived (or settled) while the run went on
        state["files"] = [p for p in inbox_files(ctx.config, now=ctx.now()) if p not in seen]
        state["next"] = 0
        if not state["files"]:
            return None
        state["found"] = state.get("found", 0) + len(state["files"])
        ctx.expect(state["found"])
    files, result = state["files"], StepResult()
    for _ in range(ctx.chunk_size()):
        if state["next"] >= len(files) or ctx.stopping:
            break
        path = files[state["next"]]
        if path.exists():
            # retried as a whole on a transient error: the file is still in the inbox
            received = receive_file(ctx.session, path, now=ctx.now())
            ctx.session.commit()
            file_away(received, ctx.config, now=ctx.now())
            kind = OUTCOME.get(received.message.status, "skipped")
            setattr(result, kind, getattr(result, kind) + 1)
        else:
            result.skipped += 1  # gone since the inbox was listed
        state["seen"].add(path)
        state["next"] += 1
    if state["next"] >= len(files):
        state["files"] = None
    return result


def preview(ctx: Context) -> list[str]:
    inbox = ctx.config.path_of("LabInboxDirectory")
    files = inbox_files(ctx.config, now=ctx.now())
    if ctx.limit is not None:
        files = files[: ctx.limit]
    lines = [f"would import {len(files)} files from {inbox}"]
    lines += [f"  {path.name}" for path in files]
    return lines


IMPORTRESULTS = register(
    Batch(
        name="IMPORTRESULTS",
        command="import-results",
        help="Import lab result files (HL7 v2 ORU^R01, FHIR R4 JSON) from the lab inbox.",
        steps=(import_step,),
        preview=preview,
    )
)
