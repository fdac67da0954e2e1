"""Worker processes for the per-strip work of vectorising: every core, despite Python's lock.

Each worker is a fresh interpreter (``python -c ... serve()``), never a fork of the caller, so
neither the caller's threads (tile readers, the model's) nor its ``__main__`` run again in it,
on any platform. A call travels pickled (:func:`send`; arrays as their raw bytes after the
pickle): the function by its importable name and its arguments on the worker's standard
input, the result, or the exception it raised, back on its standard output (the worker's own
prints go to standard error).
"""

from __future__ import annotations

import ctypes
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

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
        worker = self._idle.get()
        try:
            send(worker.stdin, (fn, args, kwargs))
            ok, value = receive(worker.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):  # gone, or gone half way through an answer
            raise GeosegError(f"a vectorising worker process stopped (exit code {worker.wait()}); "
                              "try again with --workers 1") from None
        finally:
            self._idle.put(worker)
        if not ok:
            raise value
        return value


def send(stream: BinaryIO, obj: object) -> None:
    """``obj`` pickled onto ``stream``, its contiguous arrays' bytes written straight from their
    memory (pickle's out-of-band buffers) instead of copied into the pickle first: a strip in
    flight to a worker is not held twice. Nothing is written if ``obj`` cannot be pickled."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, PROTOCOL, buffer_callback=buffers.append)
    views = [buffer.raw() for buffer in buffers]
    stream.write(struct.pack(f"<{2 + len(views)}Q", len(head), len(views), *(v.nbytes for v in views)))
    stream.write(head)
    for view in views:
        stream.write(view)
    stream.flush()


def receive(stream: BinaryIO) -> object:
    """What :func:`send` wrote to the other end of ``stream`` (:class:`EOFError` at its end);
    its arrays are views of the bytes read, not copies of them."""
    head_size, count = struct.unpack("<2Q", _read(stream, 16))
    sizes = struct.unpack(f"<{count}Q", _read(stream, 8 * count))
    head = _read(stream, head_size)
    return pickle.loads(head, buffers=[_read(stream, size) for size in sizes])


def _read(stream: BinaryIO, size: int) -> bytearray:
    """Exactly ``size`` bytes of ``stream``."""
    data = bytearray(size)
    view, done = memoryview(data), 0
    while done < size:
        got = stream.readinto(view[done:])
        if not got:
            raise EOFError(f"{done} of {size} bytes before the end of the stream")
        done += got
    return data


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
            fn, args, kwargs = receive(calls)
        except EOFError:
            return
        try:
            answer = (True, fn(*args, **kwargs))
        except Exception as exc:
            answer = (False, exc)
        try:
            send(answers, answer)
        except Exception as exc:  # an answer that cannot be pickled goes back as its text
            failed = exc if answer[0] else answer[1]
            send(answers, (False, RuntimeError(f"{type(failed).__name__}: {failed}")))
        del answer, fn, args, kwargs  # the call's arrays go before the heap is trimmed
        _TRIM()


def _heap_trimmer() -> Callable[[], object]:
    """glibc's ``malloc_trim(0)``, which hands the memory a call freed back to the system (a
    worker's peak is its own, not kept for the next call), or a no-op elsewhere."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None) if sys.platform.startswith("linux") else None
    return (lambda: trim(0)) if trim is not None else (lambda: None)


_TRIM = _heap_trimmer()
