"""What the pipeline around the model can deliver: ``predict`` with a stand-in network that
costs nothing, so its MP/s is the ceiling that reading, stitching, vectorising and writing
set, whatever the device.

The stand-in answers "building" where the first stretched band is in its upper half
(the synthetic scene's bright roofs: a 24 x 24 m building every 60 m, 4 400 of them in
8 000^2), so vectorising and splitting see real work. Each measurement runs in its own
process (peak RSS is that process's), with the shipped model's card and default options
(touching buildings split), for each number of workers asked.

A run with N workers is given N cores: the child process (and the labelling processes it
starts) may run on the first N of the cores this benchmark may use, so the rows show how
the pipeline scales with the cores it is given. With ``--no-pin`` every run may use every
core (``--workers 1`` still runs its reader, labelling and shaping threads beside the main
one, so on a small machine it already keeps several cores busy).

    python benchmarks/bench_pipeline.py [--size 8000] [--workers 1 2] [--no-pin] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import peak_rss_mb, write_synthetic  # noqa: E402

from geoseg.infer.predictor import TwoSteps  # noqa: E402


class NullBackend(TwoSteps):
    """Probabilities without a network, as bytes like every backend's: 255 where the first
    stretched band is in its upper half, else 0."""

    def prepare(self, batch: np.ndarray) -> np.ndarray:
        return batch

    def run(self, batch: np.ndarray) -> np.ndarray:
        return (batch[:, :1] > 127).astype(np.uint8) * np.uint8(255)


def null_predictor():
    """The shipped model's card (without its separation output) around :class:`NullBackend`."""
    from geoseg.infer.predictor import Predictor
    from geoseg.models import registry

    _, card = registry.load(None)
    card.separation = False  # one output; splitting touching buildings (card.separate) stays on
    return Predictor(NullBackend(), card, "cpu (null model)", "null", "0" * 16)


def child(scene: str, output: str, workers: int | None) -> None:
    """One measured run: predict with the null model, its summary as JSON on stdout."""
    from geoseg.options import PredictOptions
    from geoseg.pipeline import predict

    options = PredictOptions(**({"workers": workers} if workers else {}))
    print(json.dumps(predict(scene, output, options, predictor=null_predictor(), overwrite=True)))


def cores_for(workers: int) -> list[int]:
    """The first ``workers`` of the cores this process may run on."""
    usable = sorted(os.sched_getaffinity(0))
    if workers > len(usable):
        raise SystemExit(f"--workers {workers}: only {len(usable)} cores are available to pin to (or use --no-pin)")
    return usable[:workers]


@contextlib.contextmanager
def pinned(cores: list[int] | None):
    """This process on ``cores`` alone inside the block (None: as it was), so what it starts runs there."""
    before = os.sched_getaffinity(0)
    if cores is not None:
        os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let every run use every core (by default N workers run on N cores)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("SCENE", "OUTPUT", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        scene, output, workers = args.child
        child(scene, output, int(workers) or None)
        return
    for workers in args.workers if args.pin else ():
        cores_for(workers)  # refuse before anything is written
    rows = []
    with tempfile.TemporaryDirectory(prefix="geoseg-bench-") as tmp:
        scene = Path(tmp) / "scene.tif"
        write_synthetic(scene, args.size)
        for workers in args.workers:
            out = Path(tmp) / "summary.json"
            cores = cores_for(workers) if args.pin else None
            with pinned(cores):  # the child and its workers inherit the cores
                usage = peak_rss_mb([sys.executable, __file__, "--child", str(scene), str(Path(tmp) / "b.gpkg"),
                                      str(workers)], stdout=out)
            summary = json.loads(out.read_text())
            rows.append({"size": args.size, "workers": workers, "cores": len(cores or os.sched_getaffinity(0)),
                         "null_model_mps": summary["megapixels_per_second"],
                         "seconds": summary["seconds"], "buildings": summary["buildings"],
                         "peak_rss_mb": round(usage.peak_rss_mb, 1),
                         "peak_tree_rss_mb": round(usage.peak_tree_rss_mb, 1), "stages": summary["stages"]})
    one = next((r for r in rows if r["workers"] == 1), None)
    for r in rows:
        r["speedup_vs_1"] = round(r["null_model_mps"] / one["null_model_mps"], 2) if one else None
    if args.json:
        print(json.dumps(rows))
        return
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
