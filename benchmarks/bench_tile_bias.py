"""How much a prediction depends on where a pixel falls in its tile.

Each image large enough for several tiles at the model's pixel size (the Dubai validation
images, the SpaceNet Las Vegas scene, the largest UAV images of Banepa and Zanzibar) is
predicted twice with ``predict``: as it is, and shifted by half a tile step. Every pixel of the common area is
then seen at two different places in its tiles; the two probability rasters are compared
pixel by pixel and binned by the pixel's distance to the nearest tile edge in either run
(edges on the image's border do not count: no neighbour is blended there; the outer 128
pixels of each image are left out, since both runs see the image's edge there). A network and a
blending without tile-border bias give the same answer in every bin.

    python benchmarks/bench_tile_bias.py [--model M] [--overlap N] [--tile-size N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_buildings import DATA, as_geotiff, validation_images  # noqa: E402

from geoseg.ground import pixel_size_m  # noqa: E402
from geoseg.infer.predictor import load_predictor  # noqa: E402
from geoseg.options import PredictOptions  # noqa: E402
from geoseg.pipeline import predict  # noqa: E402
from geoseg.read.tiling import tile_grid  # noqa: E402

SCENES = DATA / "scenes"
MARGIN = 128  # pixels of the image's border left out
BINS = (0, 40, 48, 64, 96, 128, 10**9)  # pixels from the nearest inner edge of the tile that sees a pixel deepest


def images(tmp: Path) -> list[tuple[str, Path]]:
    """The images measured: every validation image, the SpaceNet scenes and the largest UAV
    images (those too small for several tiles are skipped later)."""
    chosen = [(row["name"], as_geotiff(row, tmp)[0]) for row in validation_images()]
    chosen += [(p.stem, p) for p in sorted(SCENES.glob("*_rgb8.tif"))]
    chosen += [(name, DATA / "buildings-more" / "images" / f"{name}.tif") for name in ("hot_banepa_03", "hot_zanzibar_01")]
    return chosen


def at_gsd(scene: Path, gsd: float, out: Path, shift: int = 0) -> Path:
    """``scene`` on a grid of ``gsd``-metre pixels, with ``shift`` rows and columns of no data
    before it (masked: the valid pixels, hence the scene's scaling, stay the same)."""
    with rasterio.open(scene) as src:
        factor = pixel_size_m(src.transform, src.crs) / gsd
        height, width = round(src.height * factor), round(src.width * factor)
        data = src.read(out_shape=(src.count, height, width), resampling=Resampling.average if factor < 1 else Resampling.bilinear)
    padded = np.zeros((data.shape[0], data.shape[1] + shift, data.shape[2] + shift), dtype=data.dtype)
    padded[:, shift:, shift:] = data
    mask = np.zeros(padded.shape[1:], dtype=np.uint8)
    mask[shift:, shift:] = 255
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(
            out, "w", driver="GTiff", width=padded.shape[2], height=padded.shape[1], count=padded.shape[0],
            dtype=padded.dtype, crs="EPSG:32640", transform=from_origin(300000 - shift * gsd, 2800000 + shift * gsd, gsd, gsd)) as dst:
        dst.write(padded)
        dst.write_mask(mask)
    return out


def edge_distance(length: int, tile: int, overlap: int) -> np.ndarray:
    """Per coordinate along an axis: the distance to the nearest inner tile edge of the tile
    that sees it deepest (what blending favours); edges on the image's border do not count."""
    grid = tile_grid(length, 1, tile, overlap)
    best = np.zeros(length)
    for y in grid.ys:
        h = min(tile, length)
        pos = np.arange(y, y + h)
        top = pos - y if y > 0 else np.full(h, np.inf)
        bottom = y + h - 1 - pos if y + h < length else np.full(h, np.inf)
        best[pos] = np.maximum(best[pos], np.minimum(top, bottom))
    return best


def compare(a: np.ndarray, b: np.ndarray, valid: np.ndarray, distance: np.ndarray, cut: int) -> dict:
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)) / 255.0
    flip = (a >= cut) != (b >= cut)
    rows = {}
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        inside = valid & (distance >= lo) & (distance < hi)
        if inside.any():
            rows[f"{lo}-{hi if hi < 10**9 else 'inf'}"] = {"mean_abs_diff": float(diff[inside].mean()),
                                                           "flips": float(flip[inside].mean()), "pixels": int(inside.sum())}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--tile-size", type=int)
    parser.add_argument("--overlap", type=int)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    predictor = load_predictor(args.model)
    card = predictor.card
    tile, overlap = args.tile_size or card.tile_size, card.overlap if args.overlap is None else args.overlap
    shift = (tile - overlap) // 2
    options = PredictOptions(gsd="native", tile_size=tile, overlap=overlap)
    cut = int(np.ceil(card.threshold * 255))
    totals: dict[str, dict] = {}
    per_image = {}
    with tempfile.TemporaryDirectory(prefix="geoseg-bias-") as tmp:
        tmp = Path(tmp)
        for name, scene in images(tmp):
            probs = []
            for k, offset in enumerate((0, shift)):
                image = at_gsd(scene, card.gsd_m, tmp / f"{name}_{k}.tif", offset)
                if k == 0 and min(rasterio.open(image).shape) < tile + shift:
                    break  # too small for tiles to matter
                predict(image, None, options, raster=tmp / f"{name}_{k}_p.tif", predictor=predictor)
                with rasterio.open(tmp / f"{name}_{k}_p.tif") as src:
                    probs.append((src.read(1), src.read_masks(1) > 0))
            if len(probs) < 2:
                continue
            (a, va), (b, vb) = probs
            b, vb = b[shift:, shift:], vb[shift:, shift:]  # the same pixels as a
            h, w = a.shape
            da = np.minimum.outer(edge_distance(h, tile, overlap), edge_distance(w, tile, overlap))
            db = np.minimum.outer(edge_distance(h + shift, tile, overlap)[shift:], edge_distance(w + shift, tile, overlap)[shift:])
            distance = np.minimum(da, db)
            inner = np.zeros_like(va)  # away from the image's border, where both runs see an edge anyway
            inner[MARGIN:-MARGIN, MARGIN:-MARGIN] = True
            per_image[name] = compare(a, b, va & vb & inner, distance, cut)
            for key, value in per_image[name].items():
                total = totals.setdefault(key, {"diff": 0.0, "flips": 0.0, "pixels": 0})
                total["diff"] += value["mean_abs_diff"] * value["pixels"]
                total["flips"] += value["flips"] * value["pixels"]
                total["pixels"] += value["pixels"]
    summary = {k: {"mean_abs_diff": round(v["diff"] / v["pixels"], 4), "flips": round(v["flips"] / v["pixels"], 4),
                   "pixels": v["pixels"]} for k, v in totals.items()}
    if args.json:
        print(json.dumps({"model": predictor.name, "tile": tile, "overlap": overlap, "bins": summary, "images": per_image}))
        return
    print(f"model {predictor.name}, tiles {tile} px with {overlap} px overlap, shifted by {shift} px")
    print(f"{'px from a tile edge':<20} {'mean |dp|':>9} {'decision flips':>14} {'pixels':>10}")
    for key, v in summary.items():
        print(f"{key:<20} {v['mean_abs_diff']:>9.4f} {v['flips']:>14.2%} {v['pixels']:>10}")


if __name__ == "__main__":
    main()
