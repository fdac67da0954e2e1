"""Vectorising speed and memory on three kinds of mask, whatever the components look like.

Each mask covers a SIZE x SIZE grid of 0.5 m pixels and is made a strip at a time (never
whole in memory), then vectorised as ``predict`` does it: 256-row strips through
:class:`geoseg.vectorize.polygons.StripPolygonizer` and :func:`geoseg.vectorize.polygons.shape_buildings`.

- ``dense``: a real dense town, the Banepa mask of ``../shared/data/buildings-more``
  (45 % building, OpenStreetMap footprints) brought to 0.5 m and tiled out;
- ``ragged``: thresholded smooth noise with speckle, about half the grid, in ragged bands
  (what a model paints on farmland, shadows or noise);
- ``holes``: one component spanning the whole grid, with a hole every 16 pixels.

Each kind runs in its own process, so its peak resident memory is its own.

    python benchmarks/bench_vectorize.py [--size 16000] [--kinds dense ragged holes] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROWS = 256
PIXEL_M = 0.5
BANEPA = Path(__file__).resolve().parents[2] / "shared" / "data" / "buildings-more" / "masks" / "hot_banepa_03.png"
KINDS = ("dense", "ragged", "holes")


def dense_strips(size: int) -> Iterator[np.ndarray]:
    import cv2

    mask = cv2.imread(str(BANEPA), cv2.IMREAD_GRAYSCALE) > 0
    scale = 0.132 / PIXEL_M
    small = cv2.resize(mask.astype(np.float32), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) >= 0.5
    reps = -(-size // small.shape[1])
    for y in range(0, size, ROWS):
        rows = np.arange(y, min(y + ROWS, size)) % small.shape[0]
        yield np.tile(small[rows], (1, reps))[:, :size]


def ragged_strips(size: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Bilinear noise of 32 m features, thresholded at its median, 5 % of pixels flipped."""
    rng = np.random.default_rng(seed)
    step = 64
    coarse = rng.random((size // step + 2, size // step + 2))
    cols = np.arange(size) / step
    c0, fc = cols.astype(int), cols % 1
    for y in range(0, size, ROWS):
        r = np.arange(y, min(y + ROWS, size)) / step
        r0, fr = r.astype(int), (r % 1)[:, None]
        top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c0 + 1] * fc
        bottom = coarse[r0 + 1][:, c0] * (1 - fc) + coarse[r0 + 1][:, c0 + 1] * fc
        field = top * (1 - fr) + bottom * fr
        yield (field > 0.5) ^ (rng.random(field.shape) < 0.05)


def holes_strips(size: int) -> Iterator[np.ndarray]:
    for y in range(0, size, ROWS):
        rows = np.arange(y, min(y + ROWS, size))
        strip = np.ones((len(rows), size), dtype=bool)
        strip[(rows % 16 >= 6) & (rows % 16 < 9)] &= ~((np.arange(size) % 16 >= 6) & (np.arange(size) % 16 < 9))
        yield strip


def run_one(kind: str, size: int) -> dict:
    from rasterio.transform import from_origin

    from geoseg.vectorize.polygons import Shaping, StripPolygonizer, shape_buildings

    make = {"dense": dense_strips, "ragged": ragged_strips, "holes": holes_strips}[kind]
    transform = from_origin(500000, 4600000, PIXEL_M, PIXEL_M)
    building_px = 0

    def strips():
        nonlocal building_px
        y = 0
        for mask in make(size):
            building_px += int(mask.sum())
            classes = mask.astype(np.uint8)
            yield y, classes, classes * 255
            y += mask.shape[0]

    started = time.perf_counter()
    polygonizer = StripPolygonizer.shaped(Shaping(), PIXEL_M)
    count = sum(1 for _ in shape_buildings(polygonizer(strips()), transform, "EPSG:32633", Shaping()))
    seconds = time.perf_counter() - started
    return {"kind": kind, "size": size, "building_fraction": round(building_px / size**2, 3), "buildings": count,
            "cut_regions": polygonizer.cut, "seconds": round(seconds, 2), "mps": round(size**2 / 1e6 / seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16000)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--one", choices=KINDS, help=argparse.SUPPRESS)  # a child process: one kind
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.size)))
        return
    rows = []
    for kind in args.kinds:
        child = subprocess.run([sys.executable, __file__, "--one", kind, "--size", str(args.size)],
                               capture_output=True, text=True, check=True)
        rows.append(json.loads(child.stdout))
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'mask':<8} {'size':>6} {'building':>8} {'buildings':>9} {'cut':>4} {'seconds':>8} {'MP/s':>6} {'peak RSS':>9}")
    for r in rows:
        print(f"{r['kind']:<8} {r['size']:>6} {r['building_fraction']:>8.0%} {r['buildings']:>9} {r['cut_regions']:>4} "
              f"{r['seconds']:>8.1f} {r['mps']:>6.2f} {r['peak_rss_mb']:>6} MB")


if __name__ == "__main__":
    main()
