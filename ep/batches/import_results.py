"""IMPORTRESULTS: `ep batch import-results`, every few minutes.

The work is the inbox itself. Files are recorded in small chunks, each committed before
its files leave the inbox (ep.domain.lab_import), so a rerun after a crash goes on with
the files still there: a chunk that was not committed is simply done again, and a file
whose chunk was committed but which was not yet moved is recorded as a duplicate of
itself, never imported twice. The chunk is small (at most IMPORT_CHUNK_FILES) so that a
crash leaves few such duplicates; it is a chunk at all because one commit and a few
bulk statements per chunk, rather than per file, is what keeps the import near the
speed of parsing.

A big inbox is read ahead: while one chunk is recorded, forked reader processes read and
parse the next ones (on the machine's other core). A reader only reads; it writes nothing,
records nothing and moves nothing, so every guarantee above stays with this process:
the chunks are recorded and filed here, in inbox order. A reader that fails or is killed
costs nothing but time: its chunks are read here instead. Readers ignore SIGTERM and
Ctrl-C (the runner decides when to stop), are killed when the step ends, and end by
themselves when this process is gone.

Counts: imported → succeeded; unmatched (kept for staff) and rejected (quarantined in
error/) → failed; duplicates → skipped.
"""

import multiprocessing
import signal
import sys
from pathlib import Path

from ep.batches.runner import Batch, Context, StepResult, register
from ep.batches.spine import spec_of
from ep.domain.lab_import import (
    ReadFile,
    file_away,
    read_files,
    record_files,
    record_untouchable,
    scan_inbox,
)

IMPORT_CHUNK_FILES = 100
# and at most this many bytes of files per chunk (a file is at most LabMaxFileBytes):
# with read-ahead, a few chunks are in memory at once, whatever the inbox holds
IMPORT_CHUNK_BYTES = 8 * 1024 * 1024
# read ahead only where a reader can be forked (not on Windows), and only for an inbox big
# enough to be worth a process
READ_AHEAD_MIN_FILES = 2 * IMPORT_CHUNK_FILES
READERS = 2  # the machine's cores: the readers parse while this process records
READ_AHEAD_CHUNKS = 2 * READERS
_FORK = (
    multiprocessing.get_context("fork")
    if "fork" in multiprocessing.get_all_start_methods()
    else None
)
OUTCOME = {"imported": "succeeded", "unmatched": "failed", "rejected": "failed"}


def import_step(ctx: Context) -> StepResult | None:
    """Import the next chunk of inbox files, committing each one as it is done."""
    state = ctx.state
    if not state.get("files"):
        seen = state.setdefault("seen", set())
        # the inbox again: files that arrived (or settled) while the run went on
        inbox = scan_inbox(ctx.config, now=ctx.now())
        if record_untouchable(ctx.session, inbox.untouchable, now=ctx.now()):
            ctx.session.commit()
        ready = [file for file in inbox.ready if file.path not in seen]
        state["files"] = [file.path for file in ready]
        state["sizes"] = [file.size for file in ready]
        state["next"] = 0
        if not state["files"]:
            return None
        state["found"] = state.get("found", 0) + len(state["files"])
        ctx.expect(state["found"])
    files, start, result = state["files"], state["next"], StepResult()
    size = min(ctx.chunk_size(), IMPORT_CHUNK_FILES)
    end = _chunk_end(state["sizes"], start, size)
    chunk = files[start:end]
    max_bytes = ctx.config["LabMaxFileBytes"]
    ahead = state.get("ahead")
    if ahead is None and _FORK is not None and ctx.limit is None:
        if len(files) - start >= READ_AHEAD_MIN_FILES:
            ahead = state["ahead"] = _ReadAhead(max_bytes)
    try:
        if ahead is not None:
            later = end
            for _ in range(READ_AHEAD_CHUNKS):
                after = _chunk_end(state["sizes"], later, size)
                ahead.start(later, files[later:after])
                later = after
            read = ahead.take(start, chunk)
        else:
            read = read_files(chunk, max_bytes=max_bytes)
        # gone since the inbox was listed, or changed since it was read: a later run
        # takes what is still there
        now = ctx.now()
        received = record_files(ctx.session, read, now=now) if any(read) else []
        result.skipped += len(chunk) - len(received)
        if received:
            # on a transient error the runner retries this call: nothing of it was committed
            ctx.session.commit()
            for item in received:
                try:
                    file_away(item, ctx.config, now=now)
                except OSError as exc:
                    # recorded, but it stays in the inbox (the next run records it as a
                    # duplicate of itself and tries again); the files beside it go on
                    ctx.log(
                        f"{item.name} (lab message {item.message_id}) not moved: {exc.strerror}"
                    )
                    result.failed += 1
                    continue
                kind = OUTCOME.get(item.status, "skipped")
                setattr(result, kind, getattr(result, kind) + 1)
    except BaseException:
        _stop_reading_ahead(state)
        raise
    state["seen"].update(chunk)
    state["next"] = end
    if state["next"] >= len(files):
        state["files"] = None
    if state["files"] is None or ctx.stopping:
        _stop_reading_ahead(state)
    return result


def _chunk_end(sizes: list[int], start: int, size: int) -> int:
    """Where the chunk from ``start`` ends: ``size`` files, or fewer of IMPORT_CHUNK_BYTES."""
    end, total = start, 0
    while end < min(start + size, len(sizes)):
        total += sizes[end]
        if total > IMPORT_CHUNK_BYTES and end > start:
            break
        end += 1
    return end


def _stop_reading_ahead(state: dict) -> None:
    ahead = state.pop("ahead", None)
    if ahead is not None:
        ahead.close()


class _ReadAhead:
    """Reader processes, forked once per run, each reading and parsing chunks in turn.

    Each reader answers its requests in the order it got them; the chunks are taken in
    the order they were asked for, so each answer is the one expected.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.readers: list[tuple] = []  # (process, this end of its two-way pipe)
        self.pending: dict[int, int] = {}  # chunk start → which reader has it
        self.turn = 0
        assert _FORK is not None  # made only where processes fork (see import_step)
        for _ in range(READERS):
            mine, theirs = _FORK.Pipe()
            # a reader must hold no batch end of any pipe: with the batch gone (even
            # killed) its pipe then ends, and so does the reader
            inherited = [mine] + [pipe for _, pipe in self.readers]
            sys.stdout.flush()  # a child flushes what it inherited: print nothing twice
            sys.stderr.flush()
            process = _FORK.Process(
                target=_reader, args=(theirs, inherited, max_bytes), daemon=True
            )
            process.start()
            theirs.close()
            self.readers.append((process, mine))

    def start(self, start: int, paths: list[Path]) -> None:
        if start in self.pending or not paths:
            return
        self.readers[self.turn][1].send(paths)
        self.pending[start] = self.turn
        self.turn = (self.turn + 1) % len(self.readers)

    def take(self, start: int, paths: list[Path]) -> list[ReadFile | None]:
        """The chunk at ``start`` as a reader read it; read here if none did or it failed."""
        files = None
        reader = self.pending.pop(start, None)
        if reader is not None:
            try:
                files = self.readers[reader][1].recv()
            except (EOFError, OSError):
                files = None  # the reader died: its later chunks are read here too
        return files if files is not None else read_files(paths, max_bytes=self.max_bytes)

    def close(self) -> None:
        for process, pipe in self.readers:
            process.kill()  # it holds nothing: at most a chunk read for nothing
            process.join()
            pipe.close()
        self.readers, self.pending = [], {}


def _reader(pipe, inherited: list, max_bytes: int) -> None:
    """A reader process: paths in, ReadFiles out (None when reading failed), until EOF."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the batch process decides when to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for other in inherited:
        other.close()
    while True:
        try:
            paths = pipe.recv()
        except (EOFError, OSError):
            return  # the batch closed the pipe or is gone
        try:
            files = read_files(paths, max_bytes=max_bytes)
        except Exception:
            files = None  # the batch reads the chunk itself and meets the error there
        try:
            pipe.send(files)
        except OSError:
            return


def preview(ctx: Context) -> list[str]:
    inbox = ctx.config.path_of("LabInboxDirectory")
    files = [file.path for file in scan_inbox(ctx.config, now=ctx.now(), dry_run=True).ready]
    if ctx.limit is not None:
        files = files[: ctx.limit]
    lines = [f"would import {len(files)} files from {inbox}"]
    lines += [f"  {path.name}" for path in files]
    return lines


IMPORTRESULTS = register(
    Batch(
        spec_of("IMPORTRESULTS"),
        steps=(import_step,),
        preview=preview,
    )
)
