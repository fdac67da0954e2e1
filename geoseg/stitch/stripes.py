"""Finished stripes of the working raster (what ``--raster`` holds) into building records:
what the raster holds for a model's head, and the consumer thread that writes stripes and
vectorises them beside inference."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import rasterio
from rasterio.windows import Window

from geoseg.ground import pixel_size_m
from geoseg.models.card import ModelCard
from geoseg.read.scene import valid_pixels
from geoseg.stitch.background import Stopped
from geoseg.timing import Stopwatch
from geoseg.vectorize.polygons import CHUNK, Shaping, StripPolygonizer, binary_classes, shape_buildings, strip_rows
from geoseg.vectorize.separate import split_levels
from geoseg.write.preview import ClassThumbnail
from geoseg.write.provenance import Provenance
from geoseg.write.vectors import schema

BLOCK = 256  # internal tiling of the rasters geoseg writes; stripes are whole blocks of rows
# Dataset tags of the working raster: how predict turned it into polygons, so that
# ``geoseg vectorize`` starts from the same choices.
TAG_MODEL, TAG_THRESHOLD, TAG_SEPARATE = "GEOSEG_MODEL", "GEOSEG_THRESHOLD", "GEOSEG_SEPARATE"
Stripe = tuple[int, np.ndarray, np.ndarray]  # (first row, uint8 bands (count, rows, width), valid (rows, width))


@dataclass
class StripeVectorizer:
    """The consumer of finished stripes, on its own thread: writes them to the probability
    raster (if one was asked for) and turns them into building records."""

    layout: RasterLayout
    transform: rasterio.Affine
    crs: rasterio.crs.CRS
    shaping: Shaping
    raster: rasterio.io.DatasetWriter | None
    watch: Stopwatch
    stop: threading.Event = field(default_factory=threading.Event)  # set when the caller gives up
    thumbnail: ClassThumbnail | None = None  # a multiclass preview's classes, taken as they pass
    sink: Callable[[list[dict]], None] | None = None  # takes building records a chunk at a time (None: no polygons)
    workers: int = 1  # threads (processes beyond 4) that split, label and trace strips; the polygons are the same for any number
    cut: int = 0  # regions too large to be buildings, cut into pieces (see geoseg.vectorize.polygons)
    _waited: float = 0.0

    def __call__(self, stripes: Iterator[Stripe]) -> None:
        """Consume ``stripes``, handing the buildings to the sink."""
        started, self._waited = time.perf_counter(), 0.0
        written = self.watch.seconds["write"]
        strips = self._classes(stripes)
        if self.sink is None:
            for _ in strips:
                if self.stop.is_set():
                    raise Stopped
            return
        pixel_m = pixel_size_m(self.transform, self.crs)
        split = split_levels(pixel_m) if self.shaping.separate else None
        polygonizer = StripPolygonizer.shaped(self.shaping, pixel_m)
        chunk = []
        buildings = polygonizer(strips, split, self.workers)
        for record in shape_buildings(buildings, self.transform, self.crs, self.shaping, polygonizer.frontier):
            if self.stop.is_set():
                raise Stopped
            chunk.append(self.layout.attributes(record))
            if len(chunk) == CHUNK:
                self._hand_on(chunk)
                chunk = []
        self._hand_on(chunk)
        self.cut = polygonizer.cut
        busy = time.perf_counter() - started - self._waited - (self.watch.seconds["write"] - written)
        self.watch.add("vectorize", busy)

    def _hand_on(self, records: list[dict]) -> None:
        with self.watch("write"):
            self.sink(records)

    def _classes(self, stripes: Iterator[Stripe]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        while True:
            waiting = time.perf_counter()
            stripe = next(stripes, None)
            self._waited += time.perf_counter() - waiting
            if stripe is None:
                return
            y, bands, valid = stripe
            if self.raster is not None:
                with self.watch("write"):
                    window = Window(0, y, bands.shape[2], bands.shape[1])
                    self.raster.write(bands, window=window)
                    self.raster.write_mask(valid.astype(np.uint8) * 255, window=window)
            step = strip_rows(valid.shape[1])
            for top in range(0, valid.shape[0], step):  # a strip of about STRIP_PIXELS at a time keeps memory low
                rows = slice(top, top + step)
                strip = self.layout.classes(y + top, bands[:, rows], valid[rows])
                if self.thumbnail is not None:
                    self.thumbnail.add(strip[0], strip[1])
                yield strip


class RasterLayout:
    """What the working raster holds for a card's head, and how it turns into polygons.

    Binary (sigmoid) models: one band, the building probability 0-255. Multiclass (softmax)
    models: band 1 the class ID with the card's colour table, band 2 the winning class's
    probability 0-255. Pixels outside the scene's valid data are masked in both. Without a
    card: a building probability raster (binary).
    """

    def __init__(self, card: ModelCard | None, threshold: float) -> None:
        self.card = card
        self.binary = card is None or card.activation == "sigmoid"
        self.count = 1 if self.binary else 2
        self.cut = int(np.clip(np.ceil(threshold * 255), 1, 255))

    def schema(self, shaping: Shaping) -> dict[str, str]:
        """The output columns: the classes of a multiclass model, ``regularized`` where asked for."""
        return schema(multiclass=not self.binary, regularized=shaping.regularize)

    @property
    def fill(self) -> int:
        """Band 1's value outside the scene's valid data where a format has no mask (PNG): the
        ignored class of a multiclass model, 0 otherwise."""
        ignore = None if self.binary else self.card.ignore_index
        return ignore if ignore is not None and ignore < 256 else 0

    @property
    def overview_resampling(self) -> str:
        """How overviews of the raster are made: probabilities averaged, class IDs picked."""
        return "average" if self.binary else "nearest"

    def describe(self, dst: rasterio.io.DatasetWriter, model: str, threshold: float, shaping: Shaping,
                 provenance: Provenance | None = None) -> None:
        """Band descriptions, the class colours, the tags ``geoseg vectorize`` reads and the run's
        provenance (``geoseg info``)."""
        tags = provenance.metadata() if provenance else {}
        dst.update_tags(**(tags | {TAG_MODEL: model, TAG_THRESHOLD: threshold,
                                   TAG_SEPARATE: "yes" if shaping.separate else "no"}))
        if self.binary:
            dst.set_band_description(1, "building probability (0-255)")
            return
        dst.set_band_description(1, "class id")
        dst.set_band_description(2, "class probability (0-255)")
        dst.write_colormap(1, {i: (*rgb, 255) for i, rgb in enumerate(self.card.palette)})

    def sink(self, src: rasterio.DatasetReader, put: Callable[[Stripe], None]) -> Callable[[int, np.ndarray], None]:
        """Turn blended ``(outputs, rows, width)`` probability stripes (float, 0-255, or already
        rounded to uint8) into this layout's bands (uint8) and the scene's validity, and hand them on."""

        def convert(y: int, block: np.ndarray) -> None:
            valid = valid_pixels(src, Window(0, y, src.width, block.shape[1]))
            if self.binary:
                if block.dtype == np.uint8:  # blended and rounded where the model ran (geoseg.stitch.device)
                    bands = block[:1]
                else:  # a weighted mean of bytes: within 0-255
                    bands = np.rint(block[:1], out=block[:1]).astype(np.uint8)
            else:
                bands = np.stack([block.argmax(axis=0).astype(np.uint8), np.rint(block.max(axis=0)).astype(np.uint8)])
            if not valid.all():
                bands[:, ~valid] = 0
            put((y, bands, valid))

        return convert

    def classes(self, y0: int, values: np.ndarray, valid: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """A strip of the working raster as ``(y0, class values (0 = none), score)``."""
        if self.binary:
            return y0, binary_classes(values[0], valid, self.cut), values[0]
        ids = values[0].astype(np.int32) + 1
        ids[~valid] = 0
        if self.card.ignore_index is not None and self.card.ignore_index < len(self.card.classes):
            ids[ids == self.card.ignore_index + 1] = 0
        return y0, ids, values[1]

    def attributes(self, record: dict) -> dict:
        value = record.pop("value")
        if not self.binary:
            record["class_id"] = value - 1
            record["class"] = self.card.classes[value - 1]
        return record


def to_byte(probability: np.ndarray) -> np.ndarray:
    """Probabilities 0-1 as uint8 0-255 (clipped, rounded)."""
    return np.rint(np.clip(probability, 0.0, 1.0) * 255).astype(np.uint8)
