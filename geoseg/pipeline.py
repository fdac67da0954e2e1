"""One scene end to end: read, infer tile by tile, stitch to a probability raster, vectorise.
This is the Python API behind ``geoseg predict``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rasterio

from geoseg import __version__
from geoseg.changes.compare import Comparison
from geoseg.errors import GeosegError
from geoseg.ground import pixel_size_m
from geoseg.infer.predictor import Predictor, choose_device, load_predictor
from geoseg.models.card import ModelCard
from geoseg.options import PredictOptions
from geoseg.progress import Progress, no_progress
from geoseg.read.area import Area, area_of_interest, searched_area
from geoseg.read.readers import TileReader
from geoseg.read.resample import SceneView, scene_view, target_gsd
from geoseg.read.scene import Scaling, check_georeference, open_scene, scene_scaling, select_bands
from geoseg.read.sources import Source, as_source, remote_settings, source_name
from geoseg.read.tileservice import is_tile_service, service_scene
from geoseg.read.tiling import TileGrid, tile_grid
from geoseg.stitch.background import Background, heap_frozen
from geoseg.stitch.blend import StripeStitcher
from geoseg.stitch.device import DeviceStitcher
from geoseg.stitch.stripes import BLOCK, RasterLayout, StripeVectorizer
from geoseg.timing import Stopwatch
from geoseg.vectorize.polygons import Shaping, label_workers
from geoseg.write.atomic import check_outputs
from geoseg.write.formats import driver_for, resolve_format
from geoseg.write.preview import ClassThumbnail, render_class_preview, render_preview
from geoseg.write.provenance import Provenance, area_text, imagery_date
from geoseg.write.rasters import create_raster, output_profile, raster_output, writing
from geoseg.write.vectors import BuildingSink

if TYPE_CHECKING:
    import geopandas as gpd

COMPILE_MIN_MEGAPIXELS = 50  # --compile auto: where loading (~1 s) or a first compile (~30 s) pays off
# GDAL settings for a run; inside rasterio.Env, GDAL's messages also go to Python logging.
GDAL_OPTIONS = {"GDAL_TIFF_INTERNAL_MASK": True}


def predict(
    scene: Source,
    output: str | Path | None = None,
    options: PredictOptions = PredictOptions(),
    *,
    raster: str | Path | None = None,
    raster_format: str | None = None,
    preview: str | Path | None = None,
    overwrite: bool = False,
    creation_options: dict | None = None,
    progress: Progress = no_progress,
    predictor: Predictor | None = None,
    comparison: Comparison | None = None,
) -> dict:
    """Extract buildings from ``scene`` as ``options`` say; write polygons to ``output`` and
    optionally the probability raster and a preview PNG. Returns a summary dict. Nothing is
    written under a final name unless every output is complete.

    The probability raster is written on the grid the model saw (see ``--gsd``), limited to the
    area of interest if there is one, as ``raster_format`` says (``gtiff``, ``cog`` or ``png``;
    by default PNG for a .png name, GeoTIFF otherwise). A ready ``predictor`` replaces the options that choose
    the model and how it runs (:data:`geoseg.options.ENGINE`), which must then be left as
    they are. A ``comparison`` also compares the buildings found with a layer of mapped ones
    (:mod:`geoseg.changes.compare`; that layer is read before the model runs)."""
    if predictor is not None and options.changed_engine():
        raise GeosegError(f"predict() takes a predictor or {', '.join(options.changed_engine())}, not both: the "
                          "predictor already fixes the model and how it runs")
    started = time.perf_counter()
    watch = Stopwatch()
    scene = as_source(scene)
    check_outputs(scene, [output, raster, preview, *(comparison.outputs() if comparison else ())], overwrite)
    if output is not None:
        driver_for(output)
    mapped = comparison.read() if comparison else None
    name, service = scene, is_tile_service(scene)
    with rasterio.Env(**GDAL_OPTIONS, **remote_settings(scene)), contextlib.ExitStack() as stack:
        if service:  # the model's pixel size chooses the zoom, so the model comes first
            predictor = predictor or load_predictor(**options.engine() | {"compile": options.compile == "yes"})
            scene = tile_scene(scene, options, predictor.card)
        src = stack.enter_context(open_scene(scene, georeferenced=False))
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=block_cache_bytes(src)))
        megapixels = src.width * src.height / 1e6
        with watch("prepare"):
            if predictor is None:
                device = choose_device(options.device).type
                engine = options.engine() | {"compile": wants_compile(options.compile, megapixels, device)}
                predictor = load_predictor(**engine)
            card = predictor.card
            photo = check_placement(src, card, options)
            tile = options.tile_size or card.tile_size
            overlap = card.overlap if options.overlap is None else options.overlap
            if not 0 <= overlap < tile:
                raise GeosegError(f"--overlap {overlap} must be at least 0 and smaller than the tile size {tile}")
            threshold = card.threshold if options.threshold is None else options.threshold
            binary = card.activation == "sigmoid"
            if options.separate and not binary:
                raise GeosegError(f"--separate splits buildings; {card.name} is a {len(card.classes)}-class model")
            shaping = options.shaping(separate_default=card.separate and binary)
            chosen = select_bands(src, card, list(options.bands) if options.bands else None)
            scaling = scene_scaling(src, chosen, card)
            area = area_of_interest(options.bbox, options.bbox_crs, options.aoi, src.crs)
            view = scene_view(scene, src, target_gsd(options.gsd, card.gsd_for(pixel_size_m(src.transform, src.crs))), area)
            seen = view.on(src)
            provenance = run_provenance(name, src, seen, area, predictor, threshold, shaping)
        grid = tile_grid(seen.height, seen.width, tile, overlap)
        layout = RasterLayout(card, threshold)
        prob_path = None
        if raster is not None:
            fmt = resolve_format(raster, raster_format)
            prob_path = stack.enter_context(raster_output(raster, overwrite, fmt, layout.fill, layout.overview_resampling))
        with contextlib.ExitStack() as writer:
            dst = None
            if prob_path is not None:
                writer.enter_context(writing(raster))
                profile = output_profile(seen, layout.count, "uint8", BLOCK, **(creation_options or {}))
                dst = writer.enter_context(create_raster(prob_path, profile))
                layout.describe(dst, predictor.name, threshold, shaping, provenance)
            thumbnail = ClassThumbnail(seen.height, seen.width) if preview is not None and not layout.binary else None
            read_back = comparison is not None or (preview is not None and layout.binary)  # these need the buildings
            polygons = output is not None or read_back
            buildings = writer.enter_context(
                BuildingSink(output, src.crs, layout.schema(shaping), overwrite, provenance))
            vectorizer = StripeVectorizer(layout, seen.transform, seen.crs, shaping, dst, watch, thumbnail=thumbnail,
                                          sink=buildings.add if polygons else None,
                                          workers=label_workers(options.cores(), seen.height, seen.width))
            with heap_frozen(), Background(vectorizer, name="geoseg-vectorize", stop=vectorizer.stop) as stripes:
                infer_scene(view, predictor, chosen, scaling, grid, options.batch_size, layout.sink(seen, stripes.put),
                            progress, watch, options.cores())
            with watch("write"):
                found = buildings.frame() if read_back else None
        with watch("write"):
            if comparison is not None:
                compared = comparison.run(found, provenance, mapped, overwrite)
            if preview is not None:
                native = scene_view(scene, src, None, area).on(src)  # the scene at its own pixels, within the area
                render_preview_for(native, chosen, found, thumbnail, preview, card, overwrite)
    seconds = time.perf_counter() - started
    return {
        "scene": str(name),
        "output": str(output) if output else None,
        "raster": str(raster) if raster else None,
        "preview": str(preview) if preview else None,
        "buildings": buildings.count if polygons else None,  # None: no polygons were asked for
        "multiclass": not layout.binary,
        "width": src.width,
        "height": src.height,
        "tiles": len(grid),
        "gsd_m": None if photo else round(pixel_size_m(seen.transform, seen.crs), 4),
        "pixel_coordinates": photo,
        "resampled": view.grid is not None and view.grid.transform.a != src.transform.a,
        "area_of_interest": area.source if area is not None else None,
        "separated": shaping.separate,
        "cut_regions": vectorizer.cut,
        "seconds": round(seconds, 3),
        "megapixels_per_second": round(megapixels / seconds, 3),
        "device": predictor.device,
        "compiled": bool(getattr(predictor.backend, "compiled", False)),
        "model": predictor.name,
        "stages": watch.rounded(),
        "changes": compared if comparison is not None else None,
    }


def tile_scene(service: str, options: PredictOptions, card: ModelCard) -> Path:
    """The scene to read for a tile service: the tiles over the area of interest, at the zoom
    whose pixels match what the model sees (:mod:`geoseg.read.tileservice`)."""
    from geoseg.infer.cache import cache_dir

    area = area_of_interest(options.bbox, options.bbox_crs, options.aoi, "EPSG:4326")
    gsd = target_gsd(options.gsd, card.gsd_m)
    return service_scene(service, area.bounds if area else None, gsd, cache_dir() / "tiles")


def run_provenance(scene: Source, src: rasterio.DatasetReader, seen, area: Area | None, predictor: Predictor,
                   threshold: float, shaping: Shaping) -> Provenance:
    """What made this run's outputs: the model, its settings, the scene, its imagery date and the
    area searched (the grid the model saw, within the area of interest)."""
    searched = searched_area(seen.transform, seen.height, seen.width, area)
    tags = {**src.tags(), **src.tags(ns="IMAGERY")}
    date, tag = imagery_date(tags)
    return Provenance(version=__version__, model=predictor.name, model_digest=predictor.digest,
                      threshold=round(float(threshold), 4), shaping=asdict(shaping), source=source_name(scene),
                      imagery_date=date, imagery_date_tag=tag, area_wkt=area_text(searched))


def wants_compile(option: str, megapixels: float, device: str) -> bool:
    """``--compile``: yes, no, or auto: on the CPU (the only device where a compiled network
    is proven faster and sound), for inputs of ``COMPILE_MIN_MEGAPIXELS`` or more."""
    if option == "auto":
        return device == "cpu" and megapixels >= COMPILE_MIN_MEGAPIXELS
    return option == "yes"


def block_cache_bytes(src: rasterio.DatasetReader) -> int:
    """GDAL's block cache for a run: two rows of 512-px tiles of the scene (32 MB to 512 MB),
    instead of GDAL's default of 5 % of the RAM, which a wide scene would fill."""
    row = src.width * 512 * src.count * np.dtype(src.dtypes[0]).itemsize
    return int(np.clip(2 * row, 32 * 2**20, 512 * 2**20))


def infer_scene(
    view: SceneView,
    predictor: Predictor,
    bands: list[int],
    scaling: Scaling,
    grid: TileGrid,
    batch_size: int,
    sink: Callable[[int, np.ndarray], None],
    progress: Progress = no_progress,
    watch: Stopwatch | None = None,
    workers: int = 1,
) -> None:
    """Run ``predictor`` over every tile of ``grid`` (on ``view``'s grid) and stream blended
    stripes to ``sink``.

    ``workers`` reader threads (:class:`~geoseg.read.readers.TileReader`) read, stretch and prepare
    the next batches while the model runs this one. Where the answers can stay on the GPU
    (:attr:`Predictor.answers_on_device`) they are blended there. Tiles with no valid pixel are not run;
    they count as probability 0."""
    watch = watch or Stopwatch()
    on_device = predictor.answers_on_device
    if on_device:  # blended where the model ran: only finished rows cross back, as bytes
        stitcher = DeviceStitcher(grid, predictor.card.num_outputs, sink, BLOCK, predictor.backend.device)
    else:
        stitcher = StripeStitcher(grid, predictor.card.num_outputs, sink, block=BLOCK)
    run = predictor.run_on_device if on_device else predictor.run
    batches = [(r, row[i:i + batch_size], i + batch_size >= len(row))
               for r in range(len(grid.ys)) for row in [grid.row(r)] for i in range(0, len(row), batch_size)]
    reader = TileReader(view, bands, scaling, predictor.prepare, workers, watch)
    for (r, tiles, row_done), (keep, prepared) in zip(batches, reader.in_order([b[1] for b in batches])):
        if keep:
            with watch("infer"):
                probs = run(prepared)
            with watch("stitch"):
                for i, p in zip(keep, probs):
                    stitcher.add(tiles[i], p)
        progress("infer", len(tiles), len(grid))
        if row_done:
            with watch("stitch"):  # includes waiting while the vectoriser is behind
                stitcher.end_row(r)


def check_placement(src: rasterio.DatasetReader, card: ModelCard, options: PredictOptions) -> bool:
    """Whether ``src`` is an image without a georeference that ``card``'s model may read (a
    photo for a street-scene model); refuse one that a map model is given, or that options
    about places on the ground are asked of."""
    if src.crs is not None or not card.for_photos:
        check_georeference(src)
        return False
    asked = [name for name, on in (("--bbox", options.bbox), ("--aoi", options.aoi),
                                   ("--gsd", options.gsd not in ("auto", "native"))) if on]
    if asked:
        raise GeosegError(f"{' and '.join(asked)} need a georeferenced scene; {src.name} has no georeference")
    return True


def render_preview_for(src: rasterio.DatasetReader, bands: list[int], found: gpd.GeoDataFrame | None,
                       thumbnail: ClassThumbnail | None, path: str | Path, card: ModelCard, overwrite: bool) -> None:
    """A binary model's outlines over the scene, or the classes of a multiclass one tinting it."""
    if thumbnail is not None:
        render_class_preview(src, bands, thumbnail.classes, card.palette, path, overwrite)
        return
    colour = tuple(card.palette[0]) if card.palette else (255, 40, 40)
    render_preview(src, bands, list(found.geometry.values), path, colour=colour, overwrite=overwrite)

