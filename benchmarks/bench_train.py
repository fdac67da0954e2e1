"""Training speed: samples per second of one optimiser step (forward, loss, backward, AdamW)
for each building model, in the loop's modes.

The baseline is the loop as it was before the fast path: fp32, contiguous (NCHW) tensors,
eager. The other modes add channels-last, bf16 autocast and ``torch.compile``. Inputs are
random windows of ``--tile-size`` pixels in batches of ``--batch-size``; the loss is BCE +
Dice over all pixels. Run it on an otherwise idle machine.

    python benchmarks/bench_train.py [--models eunet-buildings eunet-mobilenetv2-buildings] [--steps 6] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from geoseg.models import registry
from geoseg.train.loop import one_cycle
from geoseg.train.losses import LossSettings, Targets
from geoseg.train.step import StepSettings, TrainStep

MODES = {
    "fp32 (baseline)": StepSettings("fp32", channels_last=False, loss=LossSettings("bce+dice")),
    "fp32 channels-last": StepSettings("fp32", loss=LossSettings("bce+dice")),
    "bf16 channels-last": StepSettings("bf16", loss=LossSettings("bce+dice")),
    "bf16 channels-last compiled": StepSettings("bf16", compile=True, loss=LossSettings("bce+dice")),
}
MODELS = ["eunet-buildings", "eunet-mobilenetv2-buildings", "eunet-efficientnet-lite0-buildings",
          "unet-mobilenetv2-buildings"]


def samples_per_second(model_name: str, settings: StepSettings, batch: int, size: int, steps: int) -> float:
    torch.manual_seed(0)
    model = registry.build(registry.preset_card(model_name))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    step = TrainStep(model, optimizer, one_cycle(optimizer, 1e-4, steps + 3), settings, "cpu")
    x = torch.randn(batch, 3, size, size)
    targets = Targets((torch.rand(batch, size, size) > 0.7).to(torch.uint8), torch.ones(batch, size, size, dtype=torch.bool))
    for _ in range(2 if settings.compile else 1):  # warm-up (and compile)
        step(x, targets)
    started = time.perf_counter()
    for _ in range(steps):
        step(x, targets)
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tile-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models:
        baseline = None
        for mode in args.modes:
            rate = samples_per_second(name, MODES[mode], args.batch_size, args.tile_size, args.steps)
            baseline = baseline or rate
            rows.append({"model": name, "mode": mode, "samples_per_s": round(rate, 2),
                         "seconds_per_step": round(args.batch_size / rate, 2), "vs_baseline": round(rate / baseline, 2)})
            if not args.json:
                r = rows[-1]
                print(f"{name:<36} {mode:<28} {r['samples_per_s']:>7.2f} samples/s  {r['seconds_per_step']:>6.2f} s/step  "
                      f"{r['vs_baseline']:>5.2f}x", flush=True)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
