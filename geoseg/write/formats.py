"""The formats geoseg writes, by name and by file extension. Plain data and checks, no I/O and
no heavy imports: the command line builds its option choices from them at start-up."""

from __future__ import annotations

from pathlib import Path

from geoseg.errors import GeosegError

DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".fgb": "FlatGeobuf",
    ".shp": "ESRI Shapefile",
}
VECTOR_FORMATS = {"gpkg": ".gpkg", "geojson": ".geojson", "fgb": ".fgb", "shp": ".shp"}  # --format: extension
RASTER_FORMATS = ("gtiff", "cog", "png")  # --raster-format


def driver_for(path: str | Path) -> str:
    """The OGR driver for ``path``'s extension, or a one-line error listing the known ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in DRIVERS:
        raise GeosegError(f"cannot tell the vector format of {path}: use one of {', '.join(DRIVERS)}")
    return DRIVERS[suffix]


def resolve_format(path: str | Path, chosen: str | None = None) -> str:
    """``--raster-format``, or from the name: ``png`` for a .png, GeoTIFF otherwise."""
    if chosen is not None:
        if chosen not in RASTER_FORMATS:
            raise GeosegError(f"unknown raster format {chosen!r}; use one of {', '.join(RASTER_FORMATS)}")
        return chosen
    return "png" if Path(path).suffix.lower() == ".png" else "gtiff"
