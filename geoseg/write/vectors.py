"""Writing building polygons: the format follows the file's extension, the CRS the scene's,
with the run's provenance as layer metadata (GeoPackage) and, in short, as columns."""

from __future__ import annotations

import contextlib
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


class BuildingSink:
    """Where a run's buildings go as they are found. For a GeoPackage they are appended to its
    layer in chunks of :attr:`CHUNK` inside the atomic temporary file, so memory stays flat
    however many buildings a scene holds; any other format keeps them and writes them whole
    when the run ends, as does a run with no ``path`` (its preview or comparison needs them).
    Use as a context manager: the file appears under its name only if the block succeeds."""

    CHUNK = 4096

    def __init__(self, path: str | Path | None, crs, columns: dict[str, str], overwrite: bool,
                 provenance: Provenance | None = None) -> None:
        self.path, self.crs, self.columns, self.overwrite, self.provenance = path, crs, columns, overwrite, provenance
        self.streamed = path is not None and driver_for(path) == "GPKG"
        self.count = 0
        self._pending: list[dict] = []
        self._stack = contextlib.ExitStack()
        self._tmp: Path | None = None

    def __enter__(self) -> BuildingSink:
        if self.streamed:
            self._tmp = self._stack.enter_context(atomic_output(self.path, overwrite=self.overwrite))
            self._write(self._frame([]), append=False)  # the layer, its schema and metadata
        return self

    def add(self, records: list[dict]) -> None:
        """Take more buildings (dicts with a ``geometry`` and the columns)."""
        self._pending.extend(records)
        self.count += len(records)
        if self.streamed and len(self._pending) >= self.CHUNK:
            self._flush()

    def frame(self) -> gpd.GeoDataFrame:
        """Every building so far, as the layer holds them (read back when streamed)."""
        if not self.streamed:
            return self._frame(self._pending)
        self._flush()
        return pyogrio.read_dataframe(self._tmp, layer=LAYER)

    def __exit__(self, kind, error, trace) -> bool:
        if kind is None:
            try:
                if self.streamed:
                    self._flush()
                elif self.path is not None:
                    write_buildings(self._frame(self._pending), self.path, self.overwrite, self.provenance)
            except BaseException as exc:  # the temporary file goes
                self._stack.__exit__(type(exc), exc, exc.__traceback__)
                raise
        return self._stack.__exit__(kind, error, trace)

    def _flush(self) -> None:
        if self._pending:
            self._write(self._frame(self._pending), append=True)
            self._pending = []

    def _frame(self, records: list[dict]) -> gpd.GeoDataFrame:
        return frame_of(records, self.crs, self.columns, self.provenance)

    def _write(self, frame: gpd.GeoDataFrame, append: bool) -> None:
        metadata = None if append or self.provenance is None else self.provenance.metadata()
        write_frame(frame, self._tmp, self.path, driver="GPKG", layer=LAYER, append=append, geometry_type="Polygon",
                    layer_metadata=metadata)


def write_frame(frame: gpd.GeoDataFrame, tmp: Path, path: str | Path, **options) -> None:
    """``pyogrio.write_dataframe(frame, tmp, **options)``, a failure said as one line about
    ``path`` (the name the user gave)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided")  # pixel coordinates of a photo: said by the caller
        try:
            pyogrio.write_dataframe(frame, tmp, **options)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
            detail = str(exc).strip().splitlines()[0]
            raise GeosegError(f"could not write {path} ({detail}); is the disk full?") from None


def write_layers(path: str | Path, layers: dict[str, tuple[gpd.GeoDataFrame, dict | None]], overwrite: bool,
                 options: dict | None = None) -> None:
    """Write named polygon layers, each with its metadata (None: none), to ``path`` atomically:
    all of them or nothing. A format with one layer a file (all but GeoPackage) takes one."""
    driver = driver_for(path)
    if len(layers) > 1 and driver != "GPKG":
        raise GeosegError(f"{path}: {len(layers)} layers need a GeoPackage (.gpkg)")
    with atomic_output(path, overwrite=overwrite) as tmp:
        for i, (name, (frame, metadata)) in enumerate(layers.items()):
            multi = bool((frame.geom_type == "MultiPolygon").any())
            write_frame(frame, tmp, path, driver=driver, layer=name, append=i > 0,
                        geometry_type="MultiPolygon" if multi else "Polygon", promote_to_multi=multi,
                        layer_metadata=metadata if driver == "GPKG" else None, **(options or {}))
