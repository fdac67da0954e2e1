"""The dataset layouts geoseg trains from, recognised by what a folder holds:

- ``images/`` + ``masks/`` (0 background, 255 building), optional ``manifest.csv`` split;
- GeoTIFF scenes with a vector file of building footprints of the same name beside each
  (``scene.tif`` + ``scene.gpkg``/``.geojson``/``.fgb``/``.shp``), rasterised on the fly;
- CamVid (SegNet version): ``train.txt``/``val.txt``/``test.txt`` listing image/label pairs;
- Cityscapes: ``leftImg8bit/<split>/<city>/`` + ``gtFine/<split>/<city>/``;
- packed data (:mod:`geoseg.train.packed`): ``packed.json`` and the images it lists.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from geoseg.errors import GeosegError
from geoseg.train.data import Sample, read_gray, read_image, stretch
from geoseg.train.packed import UNLABELLED, is_packed, packed_samples
from geoseg.train.separation import flagged_label, instances_of

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".fgb", ".shp")
CAMVID_VOID = 11
# Cityscapes label IDs -> train IDs (0-18); every other ID is ignored (255).
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                        25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


def read_dataset(folder: str | Path, split: str) -> list[Sample]:
    """The samples of ``split`` ('train', 'val' or 'test') in ``folder``, whatever its layout."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GeosegError(f"training data folder {folder} does not exist")
    if is_packed(folder):
        return packed_samples(folder, split)
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        return pair_folder(folder, split)
    if (folder / "leftImg8bit").is_dir() and (folder / "gtFine").is_dir():
        return cityscapes(folder, split)
    if (folder / "train.txt").is_file():
        return camvid(folder, split)
    if any(folder.glob("*.tif")):
        return scenes_with_footprints(folder, split)
    raise GeosegError(f"{folder}: no known layout (images/ + masks/, scenes + footprints, CamVid, Cityscapes)")


def _binary(image_path: Path, label: np.ndarray, valid: np.ndarray | None = None):
    image, ok = read_image(image_path)
    if valid is not None:
        ok &= valid
    if label.shape != ok.shape:
        raise GeosegError(f"the label of {image_path} is {label.shape}, the image {ok.shape}")
    return stretch(image, ok), label, ok


def _split_of(folder: Path) -> dict[str, str]:
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        return {}
    with open(manifest, newline="") as f:
        return {row["name"]: row.get("split", "train") for row in csv.DictReader(f)}


def pair_folder(folder: Path, split: str) -> list[Sample]:
    rows = []
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("split", "train") == split]
        pairs = [(r["name"], _find(folder, "images", r.get("image"), r["name"]),
                  _find(folder, "masks", r.get("mask"), r["name"]), r) for r in rows]
    elif split == "train":
        pairs = [(p.stem, p, _find(folder, "masks", None, p.stem), {})
                 for p in sorted((folder / "images").iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    else:
        pairs = []
    samples = []
    for name, image, mask, row in pairs:
        gsd = float(row["gsd_m"]) if row.get("gsd_m") else georeferenced_gsd(image)
        vector = folder / "vectors" / f"{name}.geojson"
        samples.append(Sample(name, lambda i=image, m=mask, v=vector, g=gsd: _binary(i, _pair_label(i, m, v, g)),
                              source=row.get("source") or folder.name,
                              place=row.get("parent") or row.get("source") or folder.name, gsd_m=gsd))
    return samples


def _pair_label(image: Path, mask: Path, vector: Path, gsd_m: float | None) -> np.ndarray:
    """The flagged label of an image/mask pair: buildings told apart by their footprints where
    a vector file of them lies in ``vectors/`` beside the masks, by the mask's components otherwise."""
    if vector.is_file() and georeferenced_gsd(image) is not None:
        from geoseg.evaluate.footprints import burn_footprints

        return flagged_label(burn_footprints(vector, grid_of(image), instances=True), gsd_m)
    return flagged_label(instances_of(read_gray(mask) > 127), gsd_m)


def georeferenced_gsd(image: Path) -> float | None:
    """The pixel size in metres of a georeferenced GeoTIFF; None for other images."""
    if image.suffix.lower() not in (".tif", ".tiff"):
        return None
    import rasterio

    from geoseg.ground import pixel_size_m

    with rasterio.open(image) as src:
        return pixel_size_m(src.transform, src.crs) if src.crs else None


def _find(folder: Path, sub: str, listed: str | None, name: str) -> Path:
    if listed:
        return folder / listed
    for suffix in IMAGE_SUFFIXES:
        path = folder / sub / f"{name}{suffix}"
        if path.is_file():
            return path
    raise GeosegError(f"no {sub[:-1]} for {name} in {folder / sub}")


def scenes_with_footprints(folder: Path, split: str) -> list[Sample]:
    splits = _split_of(folder)
    samples = []
    for scene in sorted(folder.glob("*.tif")):
        if splits.get(scene.stem, "train") != split:
            continue
        vectors = [scene.with_suffix(s) for s in VECTOR_SUFFIXES if scene.with_suffix(s).is_file()]
        if not vectors:
            raise GeosegError(f"{scene} has no footprints beside it ({scene.stem}.gpkg, .geojson, .fgb or .shp)")
        gsd = georeferenced_gsd(scene)
        samples.append(Sample(scene.stem, lambda s=scene, v=vectors[0], g=gsd: _binary(s, _footprint_label(s, v, g)),
                              source=folder.name, gsd_m=gsd))
    return samples


def _footprint_label(scene: Path, vector: Path, gsd_m: float | None) -> np.ndarray:
    from geoseg.evaluate.footprints import burn_footprints

    return flagged_label(burn_footprints(vector, grid_of(scene), instances=True), gsd_m)


def grid_of(image: Path):
    """The grid ``(shape, transform, crs)`` of a georeferenced image."""
    import rasterio

    with rasterio.open(image) as src:
        return (src.height, src.width), src.transform, src.crs


def unlabelled_images(folder: str | Path) -> list[Sample]:
    """Every image in ``folder`` (GeoTIFF, PNG, JPEG), or the unlabelled samples of a packed
    folder, as unlabelled samples: imagery for a teacher's soft targets in distillation."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GeosegError(f"unlabelled imagery folder {folder} does not exist")
    if is_packed(folder):
        return packed_samples(folder, UNLABELLED)
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise GeosegError(f"{folder} holds no images (.tif, .png, .jpg)")
    return [Sample(p.stem, lambda p=p: _unlabelled(p), source=f"unlabelled:{folder.name}",
                   gsd_m=georeferenced_gsd(p), labelled=False) for p in images]


def _unlabelled(path: Path):
    image, valid = read_image(path)
    return stretch(image, valid), np.zeros(valid.shape, np.uint8), valid


def camvid(folder: Path, split: str) -> list[Sample]:
    listing = folder / f"{split}.txt"
    if not listing.is_file():
        return []
    samples = []
    for line in listing.read_text().split("\n"):
        if not line.strip():
            continue
        image, label = (folder / p.lstrip("/") for p in line.split()[:2])
        samples.append(Sample(image.stem, lambda i=image, l=label: _camvid(i, l)))
    return samples


def _camvid(image_path: Path, label_path: Path):
    image, ok = read_image(image_path)
    label = read_gray(label_path).copy()
    valid = label != CAMVID_VOID
    return stretch(image, ok), label, valid  # stretched over the whole image, as predict stretches a photo


def cityscapes(folder: Path, split: str) -> list[Sample]:
    root = folder / "leftImg8bit" / split
    samples = []
    for image in sorted(root.glob("*/*_leftImg8bit.png")):
        stem = image.name[: -len("_leftImg8bit.png")]
        labels = folder / "gtFine" / split / image.parent.name
        train_ids, label_ids = labels / f"{stem}_gtFine_labelTrainIds.png", labels / f"{stem}_gtFine_labelIds.png"
        if not train_ids.is_file() and not label_ids.is_file():
            raise GeosegError(f"no gtFine labels for {image.name} in {labels}")
        samples.append(Sample(stem, lambda i=image, t=train_ids, l=label_ids: _cityscapes(i, t, l), cache=False))
    return samples


def cityscapes_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Cityscapes label IDs -> train IDs 0-18, 255 for ignored classes."""
    table = np.full(256, 255, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_TRAIN_IDS.items():
        table[label_id] = train_id
    return table[label_ids]


def _cityscapes(image_path: Path, train_ids: Path, label_ids: Path):
    image, ok = read_image(image_path)
    label = read_gray(train_ids) if train_ids.is_file() else cityscapes_train_ids(read_gray(label_ids))
    valid = label != 255
    return stretch(image, ok), np.where(valid, label, 0).astype(np.uint8), valid
