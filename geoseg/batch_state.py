"""What a batch run remembers between runs: a SQLite table of inputs and their outcome, and
a lock that keeps two runs off one output folder."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

STATE_NAME = ".geoseg-batch.sqlite"
LOCK_NAME = ".geoseg-batch.lock"


@dataclass(frozen=True)
class Fingerprint:
    """Identifies an input as it is now, and the model and settings it is processed with."""

    size: int
    mtime_ns: int
    model: str

    @classmethod
    def of(cls, path: Path, model: str) -> "Fingerprint":
        stat = path.stat()
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
    """An exclusive ``flock`` on ``OUTPUT_DIR/.geoseg-batch.lock``. The kernel drops it when its
    process dies, however it dies, so a lock left by a dead run is simply taken over."""

    def __init__(self, output_dir: Path, wait: bool = False) -> None:
        self.path = output_dir / LOCK_NAME
        self.wait = wait
        self.fd: int | None = None

    def __enter__(self) -> "FolderLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise Busy(holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
