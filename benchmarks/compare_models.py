"""The candidates table of docs/models.md: for each building model, pixel IoU and object F1
per validation place through ``geoseg predict`` (see eval_buildings.py), the mean over the
places, end-to-end ``predict`` speed on a synthetic scene of 0.5 m pixels, parameters and
GFLOPs at 512 x 512.

Speed is measured in its own process per model, on an otherwise idle machine; ``--no-speed``
skips it (accuracy can be measured while something else runs).

    python benchmarks/compare_models.py MODEL [MODEL ...] [--tta] [--no-speed] [--size 4000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import write_synthetic  # noqa: E402
from bench_predict import end_to_end  # noqa: E402
from eval_buildings import VARIANTS, place_scores  # noqa: E402

from geoseg.infer.predictor import load_predictor  # noqa: E402
from geoseg.models import registry, stats  # noqa: E402


def speed(model: str, scene: Path, extra: list[str]) -> dict:
    """``geoseg predict`` on ``scene`` (0.5 m pixels, nothing resampled): MP/s and peak RSS."""
    summary, rss = end_to_end(scene, scene.with_suffix(".gpkg"), ["--model", model, *extra])
    return {"predict_mps": summary["megapixels_per_second"], "peak_rss_mb": round(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model names or weights files")
    parser.add_argument("--tta", action="store_true", help="flip test-time augmentation (accuracy and speed)")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--size", type=int, default=4000, help="side of the synthetic scene for speed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="geoseg-compare-") as tmp:
        scene = Path(tmp) / "synthetic.tif"
        if not args.no_speed:
            write_synthetic(scene, args.size)
        for model in args.models:
            net, card = registry.load(model)
            row = {"model": model, "name": card.name, "threshold": card.threshold,
                   "parameters": stats.parameters(net), "gflops_512": round(stats.gflops(net, 512, card.in_channels), 2)}
            predictor = load_predictor(model, precision="auto", tta=args.tta)
            table = place_scores(predictor, {"raw": VARIANTS["raw"]})
            row["places"] = {r["place"]: {"iou": round(r["iou"], 3), "object_f1": round(r["object_f1"], 3)}
                             for r in table}
            if not args.no_speed:
                row.update(speed(model, scene, ["--tta"] if args.tta else []))
            rows.append(row)
            if not args.json:
                print(json.dumps(row), flush=True)
    if args.json:
        print(json.dumps(rows))
        return
    places = [p for p in rows[0]["places"] if p not in ("all",)]
    print("\n| model | " + " | ".join(places) + " | MP/s | parameters | GFLOPs (512²) |")
    print("|---|" + "---:|" * (len(places) + 3))
    for r in rows:
        cells = [f"{r['places'][p]['iou']:.3f} / {r['places'][p]['object_f1']:.3f}" for p in places]
        print(f"| {r['name']} | " + " | ".join(cells) + f" | {r.get('predict_mps', '')} | {r['parameters']:,} | "
              f"{r['gflops_512']} |")


if __name__ == "__main__":
    main()
