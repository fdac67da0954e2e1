"""What a batch run remembers between runs: a SQLite table of inputs and their outcome, and
a lock that keeps two runs off one output folder."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from geoseg.read.sources import Source, is_remote, remote_version

STATE_NAME = ".geoseg-batch.sqlite"
LOCK_NAME = ".geoseg-batch.lock"


@dataclass(frozen=True)
class Fingerprint:
    """Identifies an input as it is now, and the model and settings it is processed with."""

    size: int
    mtime_ns: int
    model: str

    @classmethod
    def of(cls, source: Source, model: str) -> "Fingerprint":
        """A local file by its size and modification time; a remote one by its header
        (size -1, :func:`~geoseg.read.sources.remote_version` in place of the time)."""
        if is_remote(source):
            return cls(-1, remote_version(source), model)
        stat = Path(source).stat()
        return cls(stat.st_size, stat.st_mtime_ns, model)


class BatchState:
    """``OUTPUT_DIR/.geoseg-batch.sqlite``: one row per input (relative path). SQLite commits
    are atomic, so a run killed at any point leaves the table as of its last finished file."""

    def __init__(self, output_dir: Path) -> None:
        self.db = sqlite3.connect(output_dir / STATE_NAME, isolation_level=None)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
            "model TEXT, status TEXT, error TEXT, seconds REAL, megapixels REAL, buildings INTEGER, updated REAL)"
        )

    def is_done(self, path: str, fingerprint: Fingerprint) -> bool:
        row = self.db.execute("SELECT size, mtime_ns, model, status FROM files WHERE path = ?", (path,)).fetchone()
        return row == (fingerprint.size, fingerprint.mtime_ns, fingerprint.model, "done")

    def wrote(self, path: str) -> bool:
        """Whether a run on this folder finished ``path`` at some time (its outputs are ours)."""
        row = self.db.execute("SELECT 1 FROM files WHERE path = ? AND status = 'done'", (path,)).fetchone()
        return row is not None

    def record(self, path: str, fingerprint: Fingerprint, status: str, error: str | None = None,
               seconds: float = 0.0, megapixels: float = 0.0, buildings: int = 0) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (path, fingerprint.size, fingerprint.mtime_ns, fingerprint.model, status, error, seconds, megapixels,
             buildings, time.time()),
        )

    def rows(self) -> list[dict]:
        cursor = self.db.execute("SELECT * FROM files ORDER BY path")
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    def close(self) -> None:
        self.db.close()


class Busy(Exception):
    """Another live run holds the lock."""

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.pid = pid


class FolderLock:
    """An exclusive lock on ``OUTPUT_DIR/.geoseg-batch.lock`` (``flock`` on Unix, ``msvcrt``
    byte locking on Windows). The system drops it when its process dies, however it dies, so a
    lock left by a dead run is simply taken over. The file holds the holder's pid."""

    def __init__(self, output_dir: Path, wait: bool = False, on_wait: Callable[[str], None] = lambda pid: None) -> None:
        self.path = output_dir / LOCK_NAME
        self.wait = wait
        self.on_wait = on_wait
        self.fd: int | None = None

    def __enter__(self) -> "FolderLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _lock(fd, block=False):
            holder = _read_pid(fd)
            if not self.wait:
                os.close(fd)
                raise Busy(holder)
            self.on_wait(holder)
            _lock(fd, block=True)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def _read_pid(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 32).decode(errors="replace").strip() or "?"


if os.name == "nt":
    import msvcrt

    LOCKED_BYTE = 1 << 20  # locked far past the pid, so other processes can still read it

    def _lock(fd: int, block: bool) -> bool:
        """Lock ``fd``; False if another process holds it and ``block`` is False."""
        while True:
            os.lseek(fd, LOCKED_BYTE, os.SEEK_SET)
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if not block:
                    return False
                time.sleep(1.0)
else:
    import fcntl

    def _lock(fd: int, block: bool) -> bool:
        """Lock ``fd``; False if another process holds it and ``block`` is False."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True
