"""Writing building polygons: the format follows the file's extension, the CRS the scene's."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import pyogrio
import pyogrio.errors

from geoseg.atomic import atomic_output
from geoseg.errors import GeosegError
from geoseg.formats import driver_for

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


def write_vector(records: list[dict], path: str | Path, crs, columns: dict[str, str], overwrite: bool) -> None:
    """Write ``records`` (dicts with a ``geometry`` and ``columns``) to ``path`` atomically.

    ``columns`` maps attribute names to pandas dtypes so that an empty result still has its schema.
    """
    driver = driver_for(path)
    frame = gpd.GeoDataFrame(records, columns=["geometry", *columns], geometry="geometry", crs=crs)
    frame = frame.astype(columns)
    with atomic_output(path, overwrite=overwrite) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided")  # pixel coordinates of a photo: said by the caller
        try:
            pyogrio.write_dataframe(frame, tmp, driver=driver, layer=LAYER, geometry_type="Polygon")
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
            detail = str(exc).strip().splitlines()[0]
            raise GeosegError(f"could not write {path} ({detail}); is the disk full?") from None
