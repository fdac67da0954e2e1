"""The rasters geoseg writes: a tiled GeoTIFF streamed stripe by stripe on the grid the model
saw, which becomes the file asked for when the run ends: kept as it is (``gtiff``), copied
into a Cloud-Optimised GeoTIFF with overviews (``cog``), or its first band into a PNG
(``png``, for photos and small scenes)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import rasterio
import rasterio.shutil
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from geoseg.errors import GeosegError
from geoseg.write.atomic import atomic_output

COG_OPTIONS = {"COMPRESS": "DEFLATE", "PREDICTOR": "YES", "BLOCKSIZE": 256}


def output_profile(src: rasterio.DatasetReader, count: int, dtype: str, block: int, **creation) -> dict:
    """A tiled, compressed GeoTIFF profile on the scene's grid, CRS and transform (none for an
    image without a georeference)."""
    profile = {
        "driver": "GTiff",
        "width": src.width,
        "height": src.height,
        "count": count,
        "dtype": dtype,
        **georeference(src),
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": "deflate",
        "predictor": 2,
        "bigtiff": "IF_SAFER",
    }
    profile.update(creation)
    return profile


def georeference(src: rasterio.DatasetReader) -> dict:
    """The CRS and transform of ``src`` for a profile; none for an image without a
    georeference (written on its pixels)."""
    return {"crs": src.crs, "transform": src.transform} if src.crs is not None else {}


def create_raster(path: str | Path, profile: dict) -> rasterio.io.DatasetWriter:
    """Open ``path`` for writing with ``profile``; one without a CRS (a photo's pixels) is meant."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path, "w", **profile)


@contextlib.contextmanager
def raster_output(path: str | Path, overwrite: bool, fmt: str = "gtiff", fill: int = 0,
                  resampling: str = "average") -> Iterator[Path]:
    """Where to stream a tiled GeoTIFF that appears at ``path`` in format ``fmt`` when the block
    succeeds (nothing does if it fails): ``gtiff`` as it is, ``cog`` as a COG whose overviews
    are made with ``resampling`` (:func:`to_cog`), ``png`` as a PNG of its first band with
    ``fill`` outside the valid data (:func:`to_png`)."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        if fmt == "gtiff":
            yield tmp
            return
        working = tmp.with_name(f"{tmp.name}.tif")
        try:
            yield working
            with writing(path):
                if fmt == "cog":
                    to_cog(working, tmp, resampling)
                else:
                    to_png(working, tmp, fill)
        finally:
            for leftover in tmp.parent.glob(working.name + "*"):  # and GDAL's .aux.xml
                leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn a failed write (disk full, file too large, folder gone) into a one-line error."""
    try:
        yield
    except (RasterioIOError, OSError) as exc:
        detail = str(exc.__cause__ or exc).strip().splitlines()[0]
        raise GeosegError(f"could not write {path} ({detail}); is the disk full?") from None


def to_cog(source: str | Path, cog: str | Path, resampling: str = "average") -> None:
    """``source`` as a Cloud-Optimised GeoTIFF (GDAL's COG driver: 256 px blocks, deflate,
    overviews by ``resampling``, the headers first); its mask, colours and tags come along."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        rasterio.shutil.copy(source, cog, driver="COG", OVERVIEW_RESAMPLING=resampling.upper(), **COG_OPTIONS)


def to_png(source: str | Path, png: str | Path, fill: int = 0) -> None:
    """Band 1 of ``source`` as an 8-bit PNG, with its colour table if it has one; pixels outside
    its valid data become ``fill`` (a PNG has no mask). It is read whole: PNG suits photos and
    small scenes, GeoTIFF large ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(source) as src:
            band = src.read(1)
            band[src.read_masks(1) == 0] = fill
            colours = _colormap(src)
            profile = {"driver": "PNG", "width": src.width, "height": src.height, "count": 1, "dtype": "uint8",
                       **georeference(src)}
        with rasterio.open(png, "w", **profile) as dst:
            dst.write(band, 1)
            if colours:
                dst.write_colormap(1, colours | ({} if fill in colours else {fill: (0, 0, 0, 255)}))


def _colormap(src: rasterio.DatasetReader) -> dict[int, tuple[int, int, int, int]]:
    try:
        return src.colormap(1)
    except ValueError:  # no colour table
        return {}
