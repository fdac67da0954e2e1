"""Accuracy of the whole pipeline on images with real building footprints: the validation
split of ../shared/data/buildings-{train,train-extra,more,xtra} (eight places no training image
comes from: Dubai, Rio, Inria Chicago, Kampala, Catanduanes, Massachusetts, and xBD's Houston
(hurricane-harvey) and Southern California (socal-fire)), run through
``geoseg predict`` (tiling, stitching, vectorising) with and without regularisation and
separation of touching buildings, scored with ``geoseg evaluate``.

Images without georeferencing are written to a temporary GeoTIFF first (a local UTM grid
with the manifest's ground sample distance: 0.3 m for Inria, 1 m for Massachusetts, 0.5 m
where none is given), because ``predict`` only takes georeferenced scenes. Scores are summed
over the images of a place (pixel counts and object matches) and reported per place, over
all images, and as the mean over places (each place counts once, whatever its size), over all
eight and over the six of the first three folders (comparable with scores before xBD).
A predicted building is one output polygon; a true one is one footprint polygon where the
image comes with them (the OpenStreetMap footprints of buildings-more's GeoTIFFs: Kampala,
Catanduanes), else a connected part of the truth mask (touching buildings count as one).

The model sees each image at the pixel size ``--gsd`` asks for (default: the model card's),
as ``geoseg predict`` does; scores are taken on the image's own grid.

    python benchmarks/eval_buildings.py [--model M] [--variants raw ...] [--precision fp32] [--tile-size N]
                                        [--gsd auto|native|M] [--tta] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from geoseg.evaluate.footprints import burn_footprints
from geoseg.evaluate.metrics import ObjectCounts, PixelCounts
from geoseg.infer.predictor import load_predictor
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.train.data import read_gray, read_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FOLDERS = ("buildings-train", "buildings-train-extra", "buildings-more", "buildings-xtra")
FIRST_SIX = FOLDERS[:3]  # the validation places before buildings-xtra came
VARIANTS = {"raw": {"separate": False}, "regularized": {"separate": False, "regularize": True},
            "separated": {"separate": True}, "separated+reg": {"separate": True, "regularize": True}}


def validation_images() -> list[dict]:
    rows = []
    for folder in FOLDERS:
        with open(DATA / folder / "manifest.csv", newline="") as f:
            for r in csv.DictReader(f):
                if r["split"] != "val":
                    continue
                image = DATA / folder / r["image"] if r.get("image") else _find(DATA / folder / "images", r["name"])
                mask = DATA / folder / r["mask"] if r.get("mask") else _find(DATA / folder / "masks", r["name"])
                vectors = DATA / folder / "vectors" / f"{r['name']}.geojson"
                rows.append({"name": r["name"], "place": r.get("parent") or r["source"], "image": image,
                             "first_six": folder in FIRST_SIX,
                             "mask": mask, "gsd": float(r.get("gsd_m") or 0.5),
                             "footprints": vectors if vectors.is_file() else None})
    return rows


def _find(folder: Path, name: str) -> Path:
    return next(p for p in sorted(folder.glob(f"{name}.*")) if p.suffix.lower() in (".tif", ".png", ".jpg"))


def as_geotiff(row: dict, folder: Path) -> tuple[Path, np.ndarray]:
    """The image as a georeferenced GeoTIFF (as it is, if it already is one) and its truth mask."""
    truth = read_gray(row["mask"]) > 127
    if row["image"].suffix.lower() == ".tif":
        return row["image"], truth
    data, _ = read_image(row["image"])
    path = folder / f"{row['name']}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=3,
                       dtype="uint8", crs="EPSG:32640", transform=from_origin(300000, 2800000, row["gsd"], row["gsd"])) as dst:
        dst.write(data.transpose(2, 0, 1))
    return path, truth


def true_buildings(row: dict, truth: np.ndarray, grid) -> np.ndarray:
    """The true buildings of an image: one ID per footprint where the image has its footprint
    polygons (touching houses stay apart), else the truth mask (each connected part one)."""
    if row["footprints"] is None:
        return truth
    return np.where(truth, burn_footprints(row["footprints"], grid, instances=True), 0)


def place_scores(predictor, variants: dict[str, dict], gsd: str = "auto", tile_size: int | None = None) -> list[dict]:
    """Scores of ``predictor`` through ``predict`` for each shaping variant: one row per place,
    one over all images and one with the mean over places."""
    counts = {v: defaultdict(lambda: (PixelCounts(), ObjectCounts())) for v in variants}
    seconds = {v: defaultdict(float) for v in variants}  # vectorising (splitting, tracing, shaping) per place
    images = validation_images()
    first_six = {r["place"] for r in images if r["first_six"]}
    with tempfile.TemporaryDirectory(prefix="geoseg-eval-") as tmp:
        tmp = Path(tmp)
        for row in images:
            scene, truth = as_geotiff(row, tmp)
            with rasterio.open(scene) as src:
                grid = ((src.height, src.width), src.transform, src.crs)
                valid = src.dataset_mask() > 0
            buildings = true_buildings(row, truth & valid, grid)
            for variant, shaping in variants.items():
                out = tmp / f"{row['name']}-{variant}.gpkg"
                summary = predict(scene, out, PredictOptions(tile_size=tile_size, gsd=gsd, **shaping), predictor=predictor,
                                  overwrite=True)
                pred = burn_footprints(out, grid, instances=True) * valid  # one ID a polygon
                for key in (row["place"], "all"):
                    pixels, objects = counts[variant][key]
                    pixels.add(pred > 0, truth & valid, valid)
                    objects.add(pred, buildings)
                    seconds[variant][key] += summary["stages"]["vectorize"]
    table = []
    for v in variants:
        rows = [{"variant": v, "place": k, **pixels.scores(), **objects.scores(), "vectorize_s": round(seconds[v][k], 2)}
                for k, (pixels, objects) in counts[v].items()]
        places = [r for r in rows if r["place"] != "all"]
        table += sorted(places, key=lambda r: r["place"]) + [r for r in rows if r["place"] == "all"]
        for label, kept in (("mean of places", places), ("mean of first 6", [r for r in places if r["place"] in first_six])):
            mean = {key: float(np.mean([r[key] for r in kept])) for key in kept[0] if key not in ("variant", "place")}
            table.append({"variant": v, "place": label, **mean})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--tile-size", type=int, help="tile size for predict (default: the model card's)")
    parser.add_argument("--gsd", default="auto", help="pixel size the model sees: auto (the card's), native or metres")
    parser.add_argument("--tta", action="store_true", help="average each tile over its flips")
    parser.add_argument("--ignore-separation", action="store_true",
                        help="a model with a separation output: leave it out (to measure what it brings)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    predictor = load_predictor(args.model, precision=args.precision, tta=args.tta)
    if args.ignore_separation:
        predictor.card.separation = False
    table = place_scores(predictor, {v: VARIANTS[v] for v in args.variants}, args.gsd, args.tile_size)
    if args.json:
        print(json.dumps(table))
        return
    print(f"{'variant':<14} {'place':<16} {'pixel IoU':>9} {'F1':>6} {'precision':>9} {'recall':>7} {'object F1':>9}")
    for r in table:
        print(f"{r['variant']:<14} {r['place']:<16} {r['iou']:>9.3f} {r['f1']:>6.3f} {r['precision']:>9.3f} "
              f"{r['recall']:>7.3f} {r['object_f1']:>9.3f}")


if __name__ == "__main__":
    main()
