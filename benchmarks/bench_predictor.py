"""The predictor alone: stretched uint8 tiles in, uint8 probabilities out, as ``predict``
feeds it, with no reading, stitching or vectorising around it.

For each batch size, the shipped model's predictor (``load_predictor`` with ``predict``'s
precision for the device) prepares and runs random 512^2 tiles, after a warm-up; MP/s counts
tile pixels. With ``--on-device`` the answers stay on the device, as they do where ``predict``
blends them there (CUDA).

    python benchmarks/bench_predictor.py [--device auto] [--batch-sizes 4 8 32] [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from geoseg.infer.predictor import choose_device, default_precision, load_predictor


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(device: str, batch: int, seconds: float, on_device: bool, tile: int = 512) -> dict:
    """MP/s of one predictor at one batch size over about ``seconds`` (after two warm-up batches)."""
    chosen = choose_device(device)
    precision = default_precision(chosen)
    predictor = load_predictor(device=device, precision=precision, batch_size=batch)
    run = predictor.run_on_device if on_device else predictor.run
    tiles = np.random.default_rng(0).integers(0, 256, (batch, 3, tile, tile), dtype=np.uint8)
    for _ in range(2):
        run(predictor.prepare(tiles))
    synchronise(chosen)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        run(predictor.prepare(tiles))
        done += batch
    synchronise(chosen)
    elapsed = time.perf_counter() - started
    return {"device": predictor.device, "precision": precision, "batch": batch, "on_device": on_device,
            "tiles": done, "seconds": round(elapsed, 3), "mps": round(done * tile * tile / 1e6 / elapsed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 8, 32])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--on-device", action="store_true", help="leave the answers on the device")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(args.device, b, args.seconds, args.on_device) for b in args.batch_sizes]
    print(json.dumps(rows) if args.json else "\n".join(json.dumps(row) for row in rows))


if __name__ == "__main__":
    main()
