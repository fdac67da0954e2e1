"""Writing building polygons: the format follows the file's extension, the CRS the scene's,
with the run's provenance as layer metadata (GeoPackage) and, in short, as columns."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pyogrio.errors

from geoseg.errors import GeosegError
from geoseg.write.atomic import atomic_output
from geoseg.write.formats import driver_for
from geoseg.write.provenance import COLUMNS as PROVENANCE_COLUMNS
from geoseg.write.provenance import Provenance

LAYER = "buildings"
# Every column a building layer can have, in order, with its pandas dtype.
COLUMNS = {"class_id": "int32", "class": "object", "area_m2": "float64", "perimeter_m": "float64",
           "score": "float64", "regularized": "bool"}
ALWAYS = ("area_m2", "perimeter_m", "score")


def schema(multiclass: bool = False, regularized: bool = False) -> dict[str, str]:
    """The columns of a building layer: the class of multiclass models, whether each outline
    was straightened where ``--regularize`` was asked for."""
    wanted = {*ALWAYS, *(("class_id", "class") if multiclass else ()), *(("regularized",) if regularized else ())}
    return {name: dtype for name, dtype in COLUMNS.items() if name in wanted}


def write_vector(records: list[dict], path: str | Path, crs, columns: dict[str, str], overwrite: bool,
                 provenance: Provenance | None = None) -> None:
    """Write ``records`` (dicts with a ``geometry`` and ``columns``) to ``path`` atomically.

    ``columns`` maps attribute names to pandas dtypes so that an empty result still has its
    schema. A ``provenance`` adds its columns to every building (where a record has none of
    its own) and its metadata to the layer."""
    write_buildings(frame_of(records, crs, columns, provenance), path, overwrite, provenance)


def write_buildings(frame: gpd.GeoDataFrame, path: str | Path, overwrite: bool, provenance: Provenance | None = None) -> None:
    """Write a layer :func:`frame_of` made to ``path`` atomically, with the provenance's metadata."""
    write_layers(path, {LAYER: (frame, provenance.metadata() if provenance else None)}, overwrite)


def frame_of(records: list[dict], crs, columns: dict[str, str], provenance: Provenance | None = None) -> gpd.GeoDataFrame:
    """``records`` as the layer :func:`write_vector` writes."""
    frame = gpd.GeoDataFrame(records, columns=["geometry", *columns], geometry="geometry", crs=crs)
    frame = frame.astype(columns)
    if provenance is not None:
        for name, value in provenance.columns().items():
            if name not in frame:
                frame[name] = pd.Series([value] * len(frame), index=frame.index, dtype=PROVENANCE_COLUMNS[name])
    return frame


def write_layers(path: str | Path, layers: dict[str, tuple[gpd.GeoDataFrame, dict | None]], overwrite: bool,
                 options: dict | None = None) -> None:
    """Write named polygon layers, each with its metadata (None: none), to ``path`` atomically:
    all of them or nothing. A format with one layer a file (all but GeoPackage) takes one."""
    driver = driver_for(path)
    if len(layers) > 1 and driver != "GPKG":
        raise GeosegError(f"{path}: {len(layers)} layers need a GeoPackage (.gpkg)")
    with atomic_output(path, overwrite=overwrite) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided")  # pixel coordinates of a photo: said by the caller
        try:
            for i, (name, (frame, metadata)) in enumerate(layers.items()):
                multi = bool((frame.geom_type == "MultiPolygon").any())
                pyogrio.write_dataframe(frame, tmp, driver=driver, layer=name, append=i > 0,
                                        geometry_type="MultiPolygon" if multi else "Polygon", promote_to_multi=multi,
                                        layer_metadata=metadata if driver == "GPKG" else None, **(options or {}))
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
            detail = str(exc).strip().splitlines()[0]
            raise GeosegError(f"could not write {path} ({detail}); is the disk full?") from None
