"""Files that a reader must never see half-written: lab ACKs, reason files, notifications."""

import os
import threading


def write_atomically(path: str | os.PathLike, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` whole, or not at all; make the folder when it is missing.

    The data goes to a hidden temporary file beside ``path`` (a dot hides it; the process
    and thread ids keep two writers of one name apart, and one left by a killed writer of
    the same ids is simply overwritten), then is renamed into place, replacing any file of
    that name. No fsync: a killed process loses nothing that was renamed. ``mode`` is used
    when the file is created (0o600: the text names a person).
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    partial = os.path.join(folder, f".{name}.{os.getpid()}-{threading.get_native_id()}.tmp")
    try:
        _write(partial, data, mode)
    except FileNotFoundError:  # the first file, or the folder was removed
        os.makedirs(folder, exist_ok=True)
        _write(partial, data, mode)
    try:
        os.replace(partial, path)
    except BaseException:
        _unlink(partial)
        raise


def _write(path: str, data: bytes, mode: int) -> None:
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            view = memoryview(data)
            while view:  # a short write (a full disk) must not pass for a whole one
                view = view[os.write(handle, view) :]
        finally:
            os.close(handle)
    except BaseException:
        _unlink(path)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
