"""Scenes: opening and checking them (local or remote), choosing bands, scaling pixel values the
way the model card asks, validity masks. The rasters geoseg writes are in :mod:`geoseg.write.rasters`."""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from geoseg.errors import GeosegError
from geoseg.models.card import ModelCard
from geoseg.read.percentiles import band_percentiles
from geoseg.read.sources import Source, is_remote, remote_settings

SUPPORTED_KINDS = "uib f"  # numpy dtype kinds: unsigned, signed, boolean, float
STATS_SIZE = 1024  # longest side of the decimated read used for scaling statistics
SAMPLE_ABOVE = 2 * STATS_SIZE  # a larger scene without overviews gives a sample of its blocks instead


def open_scene(path: Source, georeferenced: bool = True) -> rasterio.DatasetReader:
    """Open a raster (georeferenced unless told otherwise: a photo for a street-scene model), or
    raise a one-line :class:`GeosegError` saying what is wrong."""
    remote = is_remote(path)
    if not remote:
        path = Path(path)
        if not path.exists():
            raise GeosegError(f"{path} does not exist")
        if path.is_dir():
            raise GeosegError(f"{path} is a directory, not a raster")
        if path.stat().st_size == 0:
            raise GeosegError(f"{path} is an empty file")
    try:
        with warnings.catch_warnings(), rasterio.Env(**remote_settings(path)):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # check_scene says it better
            src = rasterio.open(path)
    except RasterioIOError as exc:
        if remote:
            raise GeosegError(f"could not open {path} ({_first_line(exc)})") from None
        raise GeosegError(f"{path} is not a raster that GDAL can read ({_first_line(exc)})") from None
    try:
        check_scene(src)
        if georeferenced:
            check_georeference(src)
    except GeosegError:
        src.close()
        raise
    return src


def check_scene(src: rasterio.DatasetReader) -> None:
    """Refuse rasters geoseg cannot read as imagery."""
    name = src.name
    if src.width == 0 or src.height == 0:
        raise GeosegError(f"{name} has no pixels ({src.width} x {src.height})")
    for dtype in set(src.dtypes):
        kind = np.dtype(dtype).kind
        if kind not in SUPPORTED_KINDS or dtype == "int8":
            raise GeosegError(f"{name} has {dtype} pixels; geoseg reads unsigned integer, int16/int32 and float bands")


def check_georeference(src: rasterio.DatasetReader) -> None:
    """Refuse rasters geoseg cannot place on a map."""
    name = src.name
    if src.crs is None:
        if src.transform.is_identity:
            raise GeosegError(
                f"{name} is not georeferenced (no CRS, no geotransform); "
                "georeference it first, e.g. gdal_translate -a_srs EPSG:XXXX -a_ullr ..."
            )
        raise GeosegError(f"{name} has a geotransform but no CRS; assign one with gdal_edit.py -a_srs EPSG:XXXX")
    if not src.transform.is_rectilinear:
        raise GeosegError(f"{name} has a rotated or skewed geotransform; make it north-up with gdalwarp first")


def image_bands(src: rasterio.DatasetReader) -> list[int]:
    """The 1-based indexes of the bands that hold imagery (alpha bands excluded)."""
    return [i for i, ci in zip(src.indexes, src.colorinterp) if ci != ColorInterp.alpha]


def select_bands(src: rasterio.DatasetReader, card: ModelCard, requested: list[int] | None = None) -> list[int]:
    """The scene bands to feed the model, one per model input channel.

    A single band is replicated to every channel; a scene with exactly as many image bands as
    the model takes is used as it is; from a scene with more, the bands whose colour
    interpretation names the model's bands (red, green, blue) are taken; anything else needs
    ``--bands`` (a blue-green-red-NIR scene must never be read as RGB by position).
    """
    want = card.in_channels
    if requested:
        bad = [b for b in requested if not 1 <= b <= src.count]
        if bad:
            raise GeosegError(f"--bands {bad[0]} is out of range: {src.name} has bands 1 to {src.count}")
        if len(requested) == 1:
            return requested * want
        if len(requested) != want:
            raise GeosegError(f"--bands names {len(requested)} bands; the model takes {want} ({', '.join(card.bands)})")
        return list(requested)
    bands = image_bands(src)
    if len(bands) == 1:
        return bands * want
    if len(bands) == want:
        return bands
    named = {ci.name: i for i, ci in zip(src.indexes, src.colorinterp)}
    if len(bands) > want and all(b in named for b in card.bands):
        return [named[b] for b in card.bands]
    raise GeosegError(
        f"{src.name} has {len(bands)} image bands and the model takes {want} ({', '.join(card.bands)}); "
        f"choose them with --bands, e.g. --bands {','.join(str(b) for b in range(1, want + 1))}"
    )


@dataclass(frozen=True)
class Scaling:
    """Per-channel map from raw pixel values to the stretched bytes a model reads: ``low`` ..
    ``high`` to 0 .. 255 (clipped, so glints and saturated roofs cannot dominate, and rounded,
    exactly as training stretches its images). The model's own normalisation (the card's mean
    and std) happens where it runs (:mod:`geoseg.models.input`); ``fill`` is the byte of each
    channel's mean, which pixels outside the valid data get (0 once normalised)."""

    low: np.ndarray  # (channels,)
    high: np.ndarray
    fill: np.ndarray  # (channels,) uint8
    _tables: dict = field(default_factory=dict, compare=False, repr=False)  # dtype -> table

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """``raw`` (channels, h, w) -> uint8 stretched values."""
        if raw.dtype in (np.uint8, np.uint16):  # one table lookup per pixel instead of four passes
            out = np.empty(raw.shape, np.uint8)
            if raw.dtype == np.uint8 and raw.shape[-1] % 2 == 0 and raw.flags.c_contiguous:
                raw, out_, table = raw.view(np.uint16), out.view(np.uint16), self.pair_table()  # half the lookups
            else:
                out_, table = out, self.table(raw.dtype)
            for c in range(raw.shape[0]):
                np.take(table[c], raw[c], out=out_[c], mode="wrap")  # every value has its entry
            return out
        return self._map(raw)

    def pair_table(self) -> np.ndarray:
        """``(channels, 65536)`` uint16: :meth:`apply` for two neighbouring bytes read as one uint16."""
        if "pairs" not in self._tables:
            pairs = np.arange(2**16, dtype=np.uint16).view(np.uint8)  # each value's two bytes, in memory order
            table = self.table(np.uint8)
            self._tables["pairs"] = np.stack([np.ascontiguousarray(t[pairs]).view(np.uint16) for t in table])
        return self._tables["pairs"]

    def table(self, dtype: np.dtype) -> np.ndarray:
        """``(channels, values)``: :meth:`apply` for every value of an unsigned integer type."""
        key = np.dtype(dtype).str
        if key not in self._tables:
            values = np.arange(np.iinfo(dtype).max + 1, dtype=np.float32)
            self._tables[key] = self._map(np.broadcast_to(values, (len(self.low), len(values)))[:, None, :])[:, 0]
        return self._tables[key]

    def _map(self, raw: np.ndarray) -> np.ndarray:
        col = (slice(None), None, None)
        x = (raw.astype(np.float32) - self.low[col]) * (255.0 / (self.high - self.low))[col]
        np.clip(x, 0.0, 255.0, out=x)
        return np.rint(x, out=x).astype(np.uint8)


def card_scaling(card: ModelCard, low: np.ndarray, high: np.ndarray) -> Scaling:
    """A :class:`Scaling` from per-channel stretch limits; the fill byte from the card's mean."""
    fill = np.rint(np.clip(np.asarray(card.mean, dtype=np.float32), 0, 1) * 255).astype(np.uint8)
    return Scaling(low=np.asarray(low, dtype=np.float32), high=np.asarray(high, dtype=np.float32), fill=fill)


def scene_scaling(src: rasterio.DatasetReader, bands: list[int], card: ModelCard) -> Scaling:
    """Scaling for this scene: each band stretched between the card's percentiles of its valid
    pixels (a sample of them: see :func:`statistics_sample`)."""
    unique = sorted(set(bands))
    data, valid = statistics_sample(src, unique)
    low, high = band_percentiles(data, valid, card.scaling.get("low", 2.0), card.scaling.get("high", 98.0))
    position = {b: i for i, b in enumerate(unique)}
    rows = [position[b] for b in bands]
    return card_scaling(card, low[rows], high[rows])


def statistics_sample(src: rasterio.DatasetReader, bands: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """About ``STATS_SIZE``² pixels of ``bands`` ``(bands, h, w)`` and their validity ``(h, w)``
    to take a scene's statistics from, without reading all of it (a remote scene is fetched by
    the block): the scene decimated to ``STATS_SIZE`` where it has overviews (GDAL reads the
    nearest one) or is small, whole blocks spread over it otherwise."""
    with reading(src):
        if src.overviews(bands[0]) or max(src.width, src.height) <= SAMPLE_ABOVE:
            factor = max(1, math.ceil(max(src.width, src.height) / STATS_SIZE))
            shape = (max(1, src.height // factor), max(1, src.width // factor))
            return src.read(bands, out_shape=(len(bands), *shape)), src.dataset_mask(out_shape=shape) > 0
        windows = spread_blocks(src.height, src.width, src.block_shapes[0])
        data = np.concatenate([src.read(bands, window=w).reshape(len(bands), -1) for w in windows], axis=1)
        valid = np.concatenate([(src.dataset_mask(window=w) > 0).ravel() for w in windows])
    return data[:, None], valid[None]


def spread_blocks(height: int, width: int, block: tuple[int, int]) -> list[Window]:
    """Whole blocks of a ``height`` x ``width`` raster tiled in ``block`` (rows, cols), spread
    evenly over it in rows and columns, about ``STATS_SIZE``² pixels in all (16 blocks at least)."""
    rows, cols = math.ceil(height / block[0]), math.ceil(width / block[1])
    wanted = max(16, STATS_SIZE**2 // (block[0] * block[1]))
    picked_rows = min(rows, wanted, max(1, round(math.sqrt(wanted * rows / cols))))
    picked_cols = min(cols, max(1, math.ceil(wanted / picked_rows)))
    return [Window(c * block[1], r * block[0], min(block[1], width - c * block[1]), min(block[0], height - r * block[0]))
            for r in np.unique(np.linspace(0, rows - 1, picked_rows).round().astype(int)).tolist()
            for c in np.unique(np.linspace(0, cols - 1, picked_cols).round().astype(int)).tolist()]


def read_tile(
    src: rasterio.DatasetReader, bands: list[int], window: Window, scaling: Scaling
) -> tuple[np.ndarray, np.ndarray]:
    """Stretched model input ``(channels, h, w)`` uint8 and validity ``(h, w)`` bool for a
    window; invalid pixels get the card's mean (:attr:`Scaling.fill`)."""
    with reading(src):
        valid = valid_pixels(src, window)
        x = scaling.apply(src.read(bands, window=window))
    if not valid.all():
        x[:, ~valid] = scaling.fill[:, None]
    return x, valid


def valid_pixels(src: rasterio.DatasetReader, window: Window) -> np.ndarray:
    """Which pixels of ``window`` hold data (bool ``(rows, cols)``): GDAL's dataset mask, or all
    of them without a read where no band has a nodata value, a mask or an alpha band (most
    scenes; the mask read of a tile costs twice its pixels' read)."""
    flags = getattr(src, "mask_flag_enums", None)  # a resampled view masks outside its area: it reads
    if flags and all(band == [MaskFlags.all_valid] for band in flags):
        return np.ones((int(window.height), int(window.width)), dtype=bool)
    return src.dataset_mask(window=window) > 0


@contextlib.contextmanager
def reading(src: rasterio.DatasetReader):
    """Turn a failed pixel read (a truncated or corrupt file) into a one-line error."""
    try:
        yield
    except RasterioIOError as exc:
        detail = _first_line(exc.__cause__ or exc)
        raise GeosegError(tile_failure(detail) or f"{src.name} could not be read; the file may be truncated or corrupt "
                                                  f"({detail})") from None


def tile_failure(detail: str) -> str | None:
    """A tile service's failed read (GDAL's WMS driver) in words; None for any other failure."""
    fetched = re.search(r"GDALWMS: ReadBlockFromFile \((.+)\) failed", detail)
    if fetched:
        return f"the tile service answered {fetched[1]} with something that is not an image (an error page, or a login?)"
    missing = re.search(r"GDALWMS: Unable to download block (\d+), (\d+)", detail)
    if missing:
        return (f"the tile service gave no tile at column {missing[1]}, row {missing[2]} (an HTTP error such as 404: "
                "no imagery there at this zoom; a larger --gsd asks for a coarser zoom)")
    return None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
