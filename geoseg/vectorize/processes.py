"""Worker processes for the per-strip work of vectorising: every core, despite Python's lock.

Each worker is a fresh interpreter (``python -c ... serve()``), never a fork of the caller, so
neither the caller's threads (tile readers, the model's) nor its ``__main__`` run again in it,
on any platform. A call travels pickled: the function by its importable name and its
arguments on the worker's standard input, the result, or the exception it raised, back on
its standard output (the worker's own prints go to standard error).
"""

from __future__ import annotations

import ctypes
import os
import pickle
import queue
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

from geoseg.errors import GeosegError

PROTOCOL = pickle.HIGHEST_PROTOCOL
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds the geoseg package


class ProcessPool(Executor):
    """``workers`` worker processes; :meth:`submit` runs a module-level function in the next
    free one and returns its future. Leaving the ``with`` block waits for the calls under way
    and ends the workers."""

    def __init__(self, workers: int) -> None:
        self._workers = [_start() for _ in range(workers)]
        self._idle: queue.SimpleQueue[subprocess.Popen] = queue.SimpleQueue()
        for worker in self._workers:
            self._idle.put(worker)
        self._calls = ThreadPoolExecutor(workers, thread_name_prefix="geoseg-process")

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        return self._calls.submit(self._call, fn, args, kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._calls.shutdown(wait=True, cancel_futures=cancel_futures)  # no call is left writing to a worker
        for worker in self._workers:
            worker.stdin.close()  # the worker's end of input: it returns
        for worker in self._workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            worker.stdout.close()

    def _call(self, fn: Callable, args: tuple, kwargs: dict):
        call = pickle.dumps((fn, args, kwargs), PROTOCOL)  # whole before a byte goes out
        worker = self._idle.get()
        try:
            worker.stdin.write(call)
            worker.stdin.flush()
            ok, value = pickle.load(worker.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):  # gone, or gone half way through an answer
            raise GeosegError(f"a vectorising worker process stopped (exit code {worker.wait()}); "
                              "try again with --workers 1") from None
        finally:
            self._idle.put(worker)
        if not ok:
            raise value
        return value


def _start() -> subprocess.Popen:
    """One worker process. The package's folder is appended to its path, so a geoseg run from
    a source tree finds itself; an installed one is found first."""
    code = f"import sys; sys.path.append({PACKAGE_ROOT!r}); from geoseg.vectorize.processes import serve; serve()"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def serve() -> None:
    """A worker's loop: answer calls from standard input until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the caller, which ends the workers
    calls, answers = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the worker's own prints go to standard error, never into the answers
    while True:
        try:
            fn, args, kwargs = pickle.load(calls)
        except EOFError:
            return
        try:
            answer = pickle.dumps((True, fn(*args, **kwargs)), PROTOCOL)
        except Exception as exc:
            answer = _failure(exc)
        answers.write(answer)
        answers.flush()
        _TRIM()


def _heap_trimmer() -> Callable[[], object]:
    """glibc's ``malloc_trim(0)``, which hands the memory a call freed back to the system (a
    worker's peak is its own, not kept for the next call), or a no-op elsewhere."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None) if sys.platform.startswith("linux") else None
    return (lambda: trim(0)) if trim is not None else (lambda: None)


_TRIM = _heap_trimmer()


def _failure(exc: Exception) -> bytes:
    """The pickled exception, or its text where it cannot be pickled."""
    try:
        return pickle.dumps((False, exc), PROTOCOL)
    except Exception:
        return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")), PROTOCOL)
