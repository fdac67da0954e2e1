"""Vectorising in worker processes: the same polygons as in one thread, failures as errors, and
never the caller's ``__main__`` run again."""

import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from geoseg.errors import GeosegError
from geoseg.vectorize.polygons import (
    MAX_LABEL_PROCESSES,
    MAX_LABEL_THREADS,
    STRIPS_PER_PROCESS,
    StripPolygonizer,
    label_workers,
    strip_rows,
)
from geoseg.vectorize.processes import ProcessPool, receive, send


def _town(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Classes and score of touching pairs of houses, some across strip seams and cell borders,
    some with holes, and long bands that cross several strips and cells."""
    rng = np.random.default_rng(11)
    score = np.zeros((height, width), dtype=np.uint8)
    for r in range(4, height - 40, 37):
        for c in range(4, width - 60, 53):
            h, w = (int(v) for v in rng.integers(12, 30, 2))
            score[r:r + h, c:c + w] = rng.integers(210, 256)
            score[r + 3:r + h - 3, c + w:c + w + 20] = rng.integers(210, 256)  # a touching neighbour
            score[r + h // 2, c + w // 2] = 0  # a one-pixel hole
            score[r + 5:r + 9, c + w - 2:c + w + 2] = 150  # a valley between the two
    score[:, 1020:1030] = 180  # a band down every strip, across a cell border
    score[300:304, :] = 230  # and one across every cell
    return (score >= 128).astype(np.uint8), score


def _buildings(workers: int, rows: int = 32) -> list[tuple]:
    classes, score = _town(420, 2300)
    strips = [(y, classes[y:y + rows], score[y:y + rows]) for y in range(0, classes.shape[0], rows)]
    polygonizer = StripPolygonizer(max_px=5000, min_px=6, hole_px=4)
    return [(b.geometry.wkb, b.value, b.pixels, b.prob_sum) for b in polygonizer(strips, (204, 10), workers)]


def test_threads_and_processes_give_the_buildings_one_thread_gives():
    one = _buildings(1)
    assert len(one) > 300
    assert _buildings(3) == one  # threads
    assert _buildings(MAX_LABEL_THREADS + 1) == one  # processes


def test_arrays_travel_as_their_own_bytes_after_a_small_pickle():
    import io

    strip = np.arange(300_000, dtype=np.uint8).reshape(300, 1000)
    every_other = np.arange(2_000, dtype=np.int32)[::2]  # not contiguous: pickled in band
    stream = io.BytesIO()
    send(stream, (7, strip[100:200], every_other))
    head_size, buffers = struct.unpack("<2Q", stream.getvalue()[:16])
    assert buffers == 1 and head_size < 4_000 + 500  # the strip's bytes go after the pickle, not in it
    stream.seek(0)
    y, got, odd = receive(stream)
    assert y == 7 and got.dtype == np.uint8 and np.array_equal(got, strip[100:200])
    assert np.array_equal(odd, every_other) and got.flags.writeable
    with pytest.raises(EOFError):
        receive(io.BytesIO(stream.getvalue()[:-10]))  # an answer cut short


def test_a_workers_exception_comes_back_as_itself():
    with ProcessPool(1) as pool:
        with pytest.raises(ValueError, match="invalid literal"):
            pool.submit(int, "not a number").result()
        assert pool.submit(print, "a print goes to standard error").result() is None  # the answers stay intact
        assert pool.submit(os.getpid).result() != os.getpid()


def test_a_worker_that_dies_is_a_one_line_error():
    with ProcessPool(1) as pool:
        with pytest.raises(GeosegError, match="worker process stopped \\(exit code 3\\)"):
            pool.submit(os._exit, 3).result()


def test_a_script_without_a_main_guard_runs_once(tmp_path):
    """A worker is a fresh interpreter: the caller's script is not run again in it (as spawn's
    and forkserver's children do)."""
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent("""
        import os
        from geoseg.vectorize.processes import ProcessPool, receive, send
        print("ran", flush=True)
        with ProcessPool(2) as pool:
            pids = {pool.submit(os.getpid).result() for _ in range(4)}
        print(len(pids - {os.getpid()}) >= 1)
    """))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (run.stdout + run.stderr).count("ran") == 1 and run.stdout.split() == ["ran", "True"]


def test_processes_are_started_only_where_they_pay():
    assert strip_rows(8000) == 256 and strip_rows(16000) == 128
    assert (STRIPS_PER_PROCESS, MAX_LABEL_THREADS, MAX_LABEL_PROCESSES) == (8, 4, 8)
    assert label_workers(16, 16000, 16000) == 8  # 125 strips would make 15 processes, one per 8: at most 8
    assert label_workers(12, 8000, 16000) == 7  # 63 strips: a process per 8
    assert label_workers(16, 8000, 8000) == 4  # 32 strips: 4 processes would not beat 4 threads
    assert label_workers(2, 8000, 8000) == 2  # threads
    assert label_workers(16, 500, 1000) == 2  # 2 strips
    assert label_workers(1, 8000, 8000) == 1
