"""Peak memory of ``geoseg predict`` against scene size.

Writes synthetic RGB scenes (dark ground, bright rectangular buildings) of 4 000^2 and
16 000^2 pixels, runs ``geoseg predict`` on each in its own process and reports that
process's peak resident memory, alone and with its vectorising worker processes (sampled
every 50 ms). The stitcher and vectoriser hold stripes of rows, so the two peaks should
differ by far less than the 16x between the scenes' areas.

    python benchmarks/bench_memory.py [--sizes 4000 16000] [--json] [-- extra predict options]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

BLOCK = 512


def write_synthetic(path: Path, size: int, seed: int = 0) -> None:
    """A tiled RGB GeoTIFF written a block row at a time, with a 24 x 24 m building every ~60 m."""
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32633", "transform": from_origin(500000, 4600000, 0.5, 0.5),
               "tiled": True, "blockxsize": BLOCK, "blockysize": BLOCK, "compress": "deflate", "bigtiff": "YES"}
    rng = np.random.default_rng(seed)
    with rasterio.open(path, "w", **profile) as dst:
        for y in range(0, size, BLOCK):
            rows = min(BLOCK, size - y)
            block = np.full((3, rows, size), 60, dtype=np.uint8)
            block += rng.integers(0, 20, size=(1, rows, size), dtype=np.uint8)
            for by in range(y - y % 120, y + rows, 120):
                for bx in range(0, size, 120):
                    top = by + 30 - y
                    block[:, max(top, 0):max(min(top + 48, rows), 0), bx + 30:bx + 78] = 210
            dst.write(block, window=Window(0, y, size, rows))


class Usage(NamedTuple):
    peak_rss_mb: float  # the command's own process
    seconds: float
    peak_tree_rss_mb: float  # the command and its worker processes together, polled every 50 ms


def peak_rss_mb(command: list[str], stdout: Path | None = None) -> Usage:
    """Run ``command`` (its stdout to ``stdout`` if given); return its peak RSS, that of its
    process tree (sampled), and its wall seconds."""
    started = time.perf_counter()
    out = open(stdout, "w") if stdout else subprocess.DEVNULL
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty child never blocks on it
        proc = subprocess.Popen(command, stdout=out, stderr=errors)
        tree = 0
        while True:
            done, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if done:
                break
            tree = max(tree, tree_rss_kb(proc.pid))
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if stdout:
            out.close()
        if proc.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(command)} failed: {errors.read().decode()}")
    return Usage(usage.ru_maxrss / 1024, time.perf_counter() - started, max(tree, usage.ru_maxrss) / 1024)


def tree_rss_kb(pid: int) -> int:
    """Resident kB of a process and all its descendants now (Linux ``/proc``; 0 once gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return 0
    own = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return own + sum(tree_rss_kb(child) for child in children)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 16000])
    parser.add_argument("--model", help="model name or file (default: the shipped model)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("extra", nargs="*", help="options passed to geoseg predict (after --)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="geoseg-bench-") as tmp:
        for size in args.sizes:
            scene = Path(tmp) / f"scene{size}.tif"
            write_synthetic(scene, size)
            command = [sys.executable, "-m", "geoseg", "predict", str(scene), "-o", str(Path(tmp) / f"b{size}.gpkg"),
                       "--quiet", "--overwrite", *args.extra] + (["--model", args.model] if args.model else [])
            rss, seconds, tree = peak_rss_mb(command)
            results.append({"size": size, "megapixels": size * size / 1e6, "peak_rss_mb": round(rss, 1),
                            "peak_tree_rss_mb": round(tree, 1), "seconds": round(seconds, 1)})
            scene.unlink()
    base, tree_base = results[0]["peak_rss_mb"], results[0]["peak_tree_rss_mb"]
    for r in results:
        r["rss_ratio"] = round(r["peak_rss_mb"] / base, 3)
        r["tree_rss_ratio"] = round(r["peak_tree_rss_mb"] / tree_base, 3)
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'scene':>14} {'MP':>8} {'peak RSS MB':>12} {'ratio':>6} {'with workers':>12} {'ratio':>6} {'seconds':>8}")
    for r in results:
        print(f"{r['size']:>6} x {r['size']:<6} {r['megapixels']:>8.0f} {r['peak_rss_mb']:>12.1f} "
              f"{r['rss_ratio']:>6.3f} {r['peak_tree_rss_mb']:>12.1f} {r['tree_rss_ratio']:>6.3f} {r['seconds']:>8.1f}")


if __name__ == "__main__":
    main()
