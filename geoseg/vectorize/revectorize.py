"""``geoseg vectorize``: building polygons from a probability raster, without the model.

It reads what ``predict --raster`` writes (or any single-band raster with a CRS: integers as
0-255, floats as 0-1) a block of rows at a time and vectorises it exactly as ``predict``
does, so users can re-threshold or re-shape a scene in seconds. The raster's tags say which
threshold and splitting ``predict`` used; they are the defaults here.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from geoseg.errors import GeosegError
from geoseg.ground import pixel_size_m
from geoseg.options import PredictOptions
from geoseg.progress import Progress, no_progress
from geoseg.read.area import area_of_interest, searched_area
from geoseg.read.resample import scene_view
from geoseg.read.scene import open_scene, reading, valid_pixels
from geoseg.stitch.background import Background, heap_frozen
from geoseg.stitch.stripes import BLOCK, TAG_SEPARATE, TAG_THRESHOLD, RasterLayout, StripeVectorizer, to_byte
from geoseg.timing import Stopwatch
from geoseg.vectorize.polygons import label_workers
from geoseg.write.atomic import check_outputs
from geoseg.write.formats import driver_for
from geoseg.write.provenance import Provenance, area_text
from geoseg.write.vectors import BuildingSink

DEFAULT_THRESHOLD = 0.5  # for rasters that do not say theirs


def vectorize_raster(raster: str | Path, output: str | Path, options: PredictOptions = PredictOptions(), *,
                     overwrite: bool = False, progress: Progress = no_progress) -> dict:
    """Polygons from the building probability in ``raster``, written to ``output``; the
    threshold, shaping and area options of ``options`` apply (the engine options do not).
    Returns a summary dict."""
    started = time.perf_counter()
    watch = Stopwatch()
    raster, output = Path(raster), Path(output)
    check_outputs(raster, [output], overwrite)
    driver_for(output)
    with open_scene(raster) as src:
        if src.count != 1:
            raise GeosegError(f"{raster} has {src.count} bands; geoseg vectorize reads a single-band building probability")
        tags = src.tags()
        threshold = options.threshold if options.threshold is not None else _tag_threshold(tags, raster)
        shaping = options.shaping(separate_default=tags.get(TAG_SEPARATE) == "yes")
        area = area_of_interest(options.bbox, options.bbox_crs, options.aoi, src.crs)
        seen = scene_view(raster, src, None, area).on(src)
        layout = RasterLayout(None, threshold)
        made = Provenance.from_metadata(tags)  # the run that wrote the raster, now with this shaping
        provenance = made and replace(made, threshold=threshold, shaping=asdict(shaping), area_wkt=area_text(
            searched_area(seen.transform, seen.height, seen.width, area)))
        with BuildingSink(output, src.crs, layout.schema(shaping), overwrite, provenance) as buildings:
            vectorizer = StripeVectorizer(layout, seen.transform, seen.crs, shaping, None, watch, sink=buildings.add,
                                          workers=label_workers(options.cores(), seen.height, seen.width))
            with heap_frozen(), Background(vectorizer, name="geoseg-vectorize", stop=vectorizer.stop) as stripes:
                for y in range(0, seen.height, BLOCK):
                    window = Window(0, y, seen.width, min(BLOCK, seen.height - y))
                    with watch("read"), reading(src):
                        values = seen.read(1, window=window)
                        valid = valid_pixels(seen, window)
                    stripes.put((y, _as_byte(values)[None], valid))
                    progress("vectorize", window.height, seen.height)
    seconds = time.perf_counter() - started
    megapixels = seen.width * seen.height / 1e6
    return {
        "raster": str(raster), "output": str(output), "buildings": buildings.count, "width": seen.width,
        "height": seen.height, "gsd_m": round(pixel_size_m(seen.transform, seen.crs), 4), "threshold": threshold,
        "separated": shaping.separate, "cut_regions": vectorizer.cut,
        "area_of_interest": area.source if area is not None else None, "seconds": round(seconds, 3),
        "megapixels_per_second": round(megapixels / seconds, 3), "stages": watch.rounded(),
    }


def _tag_threshold(tags: dict, raster: Path) -> float:
    text = tags.get(TAG_THRESHOLD)
    if text is None:
        return DEFAULT_THRESHOLD
    try:
        return float(text)
    except ValueError:
        raise GeosegError(f"{raster} has a {TAG_THRESHOLD} tag that is not a number ({text!r}); give --threshold") from None


def _as_byte(values: np.ndarray) -> np.ndarray:
    """Probabilities as 0-255: integers as they are (clipped), floats from 0-1."""
    if values.dtype == np.uint8:
        return values
    if np.issubdtype(values.dtype, np.floating):
        return to_byte(np.nan_to_num(values))
    return np.clip(values, 0, 255).astype(np.uint8)
