"""``geoseg info``: what a geoseg output is and where it came from (its provenance), read from
GeoPackage layer metadata, raster tags, or, for other vector formats, the columns each
building carries."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from geoseg.errors import GeosegError
from geoseg.write.provenance import COLUMNS, Provenance


def output_info(path: str | Path) -> dict:
    """``{"path", "kind", "crs", ...counts, "provenance"}`` for a vector or raster output;
    ``provenance`` is None for files geoseg did not write."""
    path = Path(path)
    if not path.exists():
        raise GeosegError(f"{path} does not exist")
    import pyogrio
    import pyogrio.errors

    try:
        layers = pyogrio.list_layers(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError):
        layers = []
    if len(layers):
        return _vector_info(path, [str(name) for name, _ in layers])
    return _raster_info(path)


def _vector_info(path: Path, layers: list[str]) -> dict:
    import pyogrio

    counts, provenance, crs = {}, None, None
    for layer in layers:
        info = pyogrio.read_info(path, layer=layer)
        counts[layer] = int(info["features"])
        crs = crs or info["crs"]
        provenance = provenance or Provenance.from_metadata(info.get("layer_metadata") or {})
    columns = None
    if provenance is None:  # formats without layer metadata: the short form on the first building
        frame = pyogrio.read_dataframe(path, layer=layers[0], max_features=1, read_geometry=False)
        if len(frame) and COLUMNS.keys() <= set(frame.columns):
            columns = {name: frame[name].iloc[0] for name in COLUMNS}
    return {"path": str(path), "kind": "vector", "crs": crs, "features": counts,
            "provenance": asdict(provenance) if provenance else columns}


def _raster_info(path: Path) -> dict:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            tags, crs, size, bands = src.tags(), src.crs, (src.width, src.height), src.count
    except RasterioIOError:
        raise GeosegError(f"{path} is neither a vector file OGR reads nor a raster GDAL reads") from None
    provenance = Provenance.from_metadata(tags)
    return {"path": str(path), "kind": "raster", "crs": crs.to_string() if crs else None, "width": size[0],
            "height": size[1], "bands": bands, "provenance": asdict(provenance) if provenance else None}
