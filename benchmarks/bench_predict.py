"""Throughput of ``geoseg predict`` against the bare model, on this machine, in one run.

For each scene (a synthetic 8 000^2 RGB scene and the real scenes in ../shared/data/scenes):

1. baseline: the default model's eager fp32 forward pass, batch 1, over a sample of the
   scene's own tiles (MP/s of tile pixels);
2. end to end: ``geoseg predict`` with the default settings, in its own process
   (read -> infer -> stitch -> write -> vectorise; MP/s of scene pixels);
3. the time per stage, and the share of wall time outside the model;
   (a scene whose pixel size is far from the model's is resampled by ``predict``, as users get
   it, and marked: its ratio then also counts the pixels saved);
4. the process's peak RSS.

Ratios, not only absolute times, are printed: the machine is shared and noisy.

    python benchmarks/bench_predict.py [--size 8000] [--sample 12] [--json] [-- extra predict options]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import peak_rss_mb, write_synthetic  # noqa: E402

from geoseg.models import registry  # noqa: E402
from geoseg.raster import read_tile, scene_scaling, select_bands  # noqa: E402
from geoseg.tiling import tile_grid  # noqa: E402

SCENES = Path(__file__).resolve().parents[2] / "shared" / "data" / "scenes"


def baseline_mps(scene: Path, sample: int) -> float:
    """Eager fp32 forward MP/s of the default model, batch 1, over up to ``sample`` of the scene's tiles."""
    net, card = registry.load(None)
    net.eval()
    with rasterio.open(scene) as src:
        bands = select_bands(src, card)
        scaling = scene_scaling(src, bands, card)
        grid = tile_grid(src.height, src.width, card.tile_size, card.overlap)
        tiles = [t for r in range(len(grid.ys)) for t in grid.row(r)]
        pick = np.linspace(0, len(tiles) - 1, min(sample, len(tiles))).astype(int)
        inputs = [read_tile(src, bands, Window(t.x, t.y, t.width, t.height), scaling)[0] for t in (tiles[i] for i in pick)]
    with torch.inference_mode():
        net(torch.from_numpy(inputs[0][None]))  # warm-up
        started = time.perf_counter()
        for x in inputs:
            net(torch.from_numpy(x[None])).sigmoid()
        seconds = time.perf_counter() - started
    return sum(x.shape[1] * x.shape[2] for x in inputs) / 1e6 / seconds


def end_to_end(scene: Path, out: Path, extra: list[str]) -> tuple[dict, float]:
    """``geoseg predict`` in its own process: its JSON summary and its peak RSS in MB."""
    result_file = out.with_suffix(".json")
    command = [sys.executable, "-m", "geoseg", "predict", str(scene), "-o", str(out), "--overwrite",
               "--json", "--quiet", *extra]
    rss, _ = peak_rss_mb(command, stdout=result_file)
    summary = json.loads(result_file.read_text().splitlines()[-1])
    return summary, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8000, help="side of the synthetic scene")
    parser.add_argument("--sample", type=int, default=12, help="tiles timed for the baseline")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("extra", nargs="*", help="options passed to geoseg predict (after --)")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    rows = []
    with tempfile.TemporaryDirectory(prefix="geoseg-bench-") as tmp:
        synthetic = Path(tmp) / f"synthetic{args.size}.tif"
        write_synthetic(synthetic, args.size)
        scenes = [synthetic] + sorted(SCENES.glob("*.tif"))
        for scene in scenes:
            base = baseline_mps(scene, args.sample)
            summary, rss = end_to_end(scene, Path(tmp) / "out.gpkg", args.extra)
            stages = summary["stages"]
            outside = summary["seconds"] - stages.get("infer", 0.0)
            rows.append({
                "scene": scene.name, "megapixels": round(summary["width"] * summary["height"] / 1e6, 1),
                "baseline_mps": round(base, 2), "predict_mps": summary["megapixels_per_second"],
                "ratio": round(summary["megapixels_per_second"] / base, 2),
                "outside_model_share": round(outside / summary["seconds"], 3),
                "seconds": summary["seconds"], "stages": stages, "peak_rss_mb": round(rss, 1),
                "device": summary["device"], "buildings": summary["buildings"],
                "model_gsd_m": summary["gsd_m"], "resampled": summary["resampled"],
            })
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'scene':<34} {'MP':>6} {'model px':>8} {'base MP/s':>9} {'e2e MP/s':>9} {'ratio':>6} {'non-model':>9} "
          f"{'RSS MB':>7}  device")
    for r in rows:
        px = f"{r['model_gsd_m']:.2f} m" + ("*" if r["resampled"] else " ")
        print(f"{r['scene']:<34} {r['megapixels']:>6} {px:>8} {r['baseline_mps']:>9.2f} {r['predict_mps']:>9.2f} "
              f"{r['ratio']:>6.2f} {r['outside_model_share']:>9.1%} {r['peak_rss_mb']:>7.0f}  {r['device']}")
    print("* resampled to the model's pixel size: predict runs on fewer (or more) pixels than the baseline's tiles")
    print("\nseconds per stage (read runs in a thread beside infer):")
    for r in rows:
        print(f"  {r['scene']:<34} " + "  ".join(f"{k} {v:.2f}" for k, v in r["stages"].items()) + f"  total {r['seconds']:.2f}")


if __name__ == "__main__":
    main()
