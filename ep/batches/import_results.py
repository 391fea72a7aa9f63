"""IMPORTRESULTS: `ep batch import-results`, every few minutes.

The work is the inbox itself. Files are recorded in small chunks, each committed before
its files leave the inbox (ep.domain.lab_import), so a rerun after a crash goes on with
the files still there: a chunk that was not committed is simply done again, and a file
whose chunk was committed but which was not yet moved is recorded as a duplicate of
itself, never imported twice. The chunk is small (at most IMPORT_CHUNK_FILES) so that a
crash leaves few such duplicates; it is a chunk at all because one commit and a few
bulk statements per chunk, rather than per file, is what keeps the import near the
speed of parsing. Counts: imported → succeeded; unmatched (kept for staff) and
rejected (quarantined in error/) → failed; duplicates → skipped.
"""

from ep.batches.runner import Batch, Context, StepResult, register
from ep.domain.lab_import import file_away, inbox_files, receive_files

IMPORT_CHUNK_FILES = 100
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
    chunk = files[state["next"] : state["next"] + min(ctx.chunk_size(), IMPORT_CHUNK_FILES)]
    present = [path for path in chunk if path.exists()]
    result.skipped += len(chunk) - len(present)  # gone since the inbox was listed
    if present:
        # on a transient error the runner retries this call: nothing of it was committed
        now = ctx.now()
        received = receive_files(ctx.session, present, now=now)
        ctx.session.commit()
        for item in received:
            file_away(item, ctx.config, now=now)
            kind = OUTCOME.get(item.status, "skipped")
            setattr(result, kind, getattr(result, kind) + 1)
    state["seen"].update(chunk)
    state["next"] += len(chunk)
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
