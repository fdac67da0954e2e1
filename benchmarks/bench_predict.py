"""Throughput of ``geoseg predict`` against the bare model, on this machine, in one run.

For each scene (a synthetic 8 000^2 RGB scene at 0.5 m and the real scenes in
../shared/data/scenes), over the tiles ``predict`` runs (on the model's grid: a scene whose
pixel size is far from the model's is resampled, as users get it):

- ``eager_fp32_mps``: the default model's bare eager fp32 forward pass, batch 1 (MP/s of tile
  pixels);
- ``forward_mps``: the forward pass as ``predict`` runs it (its precision, batch size,
  channels-last, compiled when predict would compile), same tiles;
- ``end_to_end_mps``: ``geoseg predict`` with the default settings in its own process
  (read -> infer -> stitch -> write -> vectorise; MP/s of scene pixels);
- ``pipeline_efficiency``: the seconds of those forward passes alone / the wall-clock seconds
  of ``predict`` (1.0: everything around the model is hidden behind it);
- the time per stage and the process's peak RSS.

Ratios, not only absolute times, are printed: the machine is shared and noisy.

    python benchmarks/bench_predict.py [--size 8000] [--sample N] [--json] [-- extra predict options]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import peak_rss_mb, write_synthetic  # noqa: E402

from geoseg.infer.predictor import choose_device, load_predictor  # noqa: E402
from geoseg.models import registry  # noqa: E402
from geoseg.models.input import normalised  # noqa: E402
from geoseg.options import PredictOptions  # noqa: E402
from geoseg.pipeline import wants_compile  # noqa: E402
from geoseg.read.resample import scene_view, target_gsd  # noqa: E402
from geoseg.read.scene import read_tile, scene_scaling, select_bands  # noqa: E402
from geoseg.read.tiling import tile_grid  # noqa: E402

SCENES = Path(__file__).resolve().parents[2] / "shared" / "data" / "scenes"


def predict_tiles(scene: Path, card, sample: int | None) -> Iterator[np.ndarray]:
    """The stretched uint8 tiles ``predict`` runs on ``scene`` (all, or ``sample`` spread over it)."""
    with rasterio.open(scene) as src:
        bands = select_bands(src, card)
        scaling = scene_scaling(src, bands, card)
        seen = scene_view(scene, src, target_gsd("auto", card.gsd_m), None).on(src)
        grid = tile_grid(seen.height, seen.width, card.tile_size, card.overlap)
        tiles = [t for r in range(len(grid.ys)) for t in grid.row(r)]
        pick = np.linspace(0, len(tiles) - 1, min(sample or len(tiles), len(tiles))).astype(int)
        for i in pick:
            t = tiles[i]
            yield read_tile(seen, bands, Window(t.x, t.y, t.width, t.height), scaling)[0]


def eager_fp32_seconds(scene: Path, sample: int | None) -> tuple[float, float]:
    """Seconds of the default model's eager fp32 forward passes, batch 1, over the tiles, and their megapixels."""
    net, card = registry.load(None)
    net.eval()
    seconds, pixels = 0.0, 0
    with torch.inference_mode():
        for k, tile in enumerate(predict_tiles(scene, card, sample)):
            x = normalised(torch.from_numpy(tile[None]), card.mean, card.std)  # the bytes as the network reads them
            if k == 0:
                net(x)  # warm-up
            started = time.perf_counter()
            net(x).sigmoid()
            seconds += time.perf_counter() - started
            pixels += tile.shape[1] * tile.shape[2]
    return seconds, pixels / 1e6


def forward_seconds(scene: Path, sample: int | None) -> tuple[float, float]:
    """Seconds of the forward passes as ``predict`` runs them (the predictor its default options
    make: precision, batch size, compiling), over the tiles, and their megapixels."""
    options = PredictOptions()
    with rasterio.open(scene) as src:
        compile_ = wants_compile(options.compile, src.width * src.height / 1e6, choose_device(options.device).type)
    predictor = load_predictor(**options.engine() | {"compile": compile_})
    batch_size = options.batch_size
    seconds, pixels, batch = 0.0, 0, []

    def run(tiles: list[np.ndarray]) -> float:
        started = time.perf_counter()
        predictor(np.stack(tiles))
        return time.perf_counter() - started

    for k, x in enumerate(predict_tiles(scene, predictor.card, sample)):
        if k == 0:
            run([x])  # warm-up
        batch.append(x)
        pixels += x.shape[1] * x.shape[2]
        if len(batch) == batch_size or (batch and batch[0].shape != x.shape):
            seconds += run(batch)
            batch = []
    if batch:
        seconds += run(batch)
    return seconds, pixels / 1e6


def end_to_end(scene: Path, out: Path, extra: list[str]) -> tuple[dict, float]:
    """``geoseg predict`` in its own process: its JSON summary and its peak RSS in MB."""
    result_file = out.with_suffix(".json")
    command = [sys.executable, "-m", "geoseg", "predict", str(scene), "-o", str(out), "--overwrite",
               "--json", "--quiet", *extra]
    rss = peak_rss_mb(command, stdout=result_file).peak_rss_mb
    summary = json.loads(result_file.read_text().splitlines()[-1])
    return summary, rss


def in_child(fn, *args):
    """``fn(*args)`` in a fresh process: the benchmark's own models and thread pools never
    live beside the ``predict`` it times (measured beside them, ``predict`` once ran at half
    the speed it had alone)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8000, help="side of the synthetic scene")
    parser.add_argument("--sample", type=int, help="time the forward passes on this many tiles spread over each "
                        "scene (default: all of them) and scale to the scene")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("extra", nargs="*", help="options passed to geoseg predict (after --)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="geoseg-bench-") as tmp:
        synthetic = Path(tmp) / f"synthetic{args.size}.tif"
        write_synthetic(synthetic, args.size)
        scenes = [synthetic] + sorted(SCENES.glob("*.tif"))
        for scene in scenes:
            summary, rss = end_to_end(scene, Path(tmp) / "out.gpkg", args.extra)
            eager_s, tile_mp = in_child(eager_fp32_seconds, scene, args.sample)
            forward_s, _ = in_child(forward_seconds, scene, args.sample)
            share = 1.0 if not args.sample else summary["tiles"] / min(args.sample, summary["tiles"])
            rows.append({
                "scene": scene.name, "megapixels": round(summary["width"] * summary["height"] / 1e6, 1),
                "tiles": summary["tiles"], "eager_fp32_mps": round(tile_mp / eager_s, 3),
                "forward_mps": round(tile_mp / forward_s, 3), "end_to_end_mps": summary["megapixels_per_second"],
                "pipeline_efficiency": round(forward_s * share / summary["seconds"], 3),
                "forward_speedup": round(eager_s / forward_s, 2),
                "seconds": summary["seconds"], "stages": summary["stages"], "peak_rss_mb": round(rss, 1),
                "device": summary["device"], "buildings": summary["buildings"],
                "model_gsd_m": summary["gsd_m"], "resampled": summary["resampled"],
            })
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'scene':<34} {'MP':>6} {'model px':>8} {'eager fp32':>10} {'forward':>8} {'end to end':>10} "
          f"{'efficiency':>10} {'RSS MB':>7}  device  (MP/s)")
    for r in rows:
        px = f"{r['model_gsd_m']:.2f} m" + ("*" if r["resampled"] else " ")
        print(f"{r['scene']:<34} {r['megapixels']:>6} {px:>8} {r['eager_fp32_mps']:>10.2f} {r['forward_mps']:>8.2f} "
              f"{r['end_to_end_mps']:>10.2f} {r['pipeline_efficiency']:>10.1%} {r['peak_rss_mb']:>7.0f}  {r['device']}")
    print("* resampled to the model's pixel size: predict runs on fewer (or more) pixels than the scene has")
    print("\nseconds per stage (read runs in a thread beside infer, vectorise beside both):")
    for r in rows:
        print(f"  {r['scene']:<34} " + "  ".join(f"{k} {v:.2f}" for k, v in r["stages"].items()) + f"  total {r['seconds']:.2f}")


if __name__ == "__main__":
    main()
