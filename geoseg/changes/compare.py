"""``geoseg compare``: buildings found against a layer of buildings already mapped
(OpenStreetMap, a cadastre, last year's run), as three layers: ``new``, ``missing`` and
``matched`` (:mod:`geoseg.changes.matching` pairs them).

Only the area both layers describe counts: the area the found buildings were searched in (the
scene's footprint, recorded in a geoseg output's provenance), within ``--bbox``/``--aoi`` if
given. A building belongs to that area when a point inside it (its representative point)
does, so a building cut by the edge is counted once on each side at most."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoseg.changes.matching import RULES, Matching, match
from geoseg.errors import GeosegError
from geoseg.ground import Ground
from geoseg.read.area import Area, area_of_interest
from geoseg.write.formats import driver_for
from geoseg.write.provenance import Provenance
from geoseg.write.vectors import write_layers

LAYERS = ("new", "missing", "matched")
POLYGONAL = {"Polygon", "MultiPolygon"}


@dataclass(frozen=True)
class CompareSettings:
    """How ``compare`` pairs and limits: ``rule`` ``iou`` (one-to-one at ``min_iou``) or
    ``overlap``; the area (``bbox`` in ``bbox_crs``, or the polygons of ``aoi``); ``osm``: also
    write the new buildings as GeoJSON in EPSG:4326 tagged ``building=yes`` and
    ``source=osm_source`` (default: the scene's name), for review in JOSM."""

    rule: str = "iou"
    min_iou: float = 0.5
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: str | None = None
    aoi: str | None = None
    osm: str | None = None
    osm_source: str | None = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise GeosegError(f"unknown matching rule {self.rule!r}; use one of {', '.join(RULES)}")
        if not 0 < self.min_iou <= 1:
            raise GeosegError(f"--min-iou {self.min_iou} must be above 0 and at most 1")
        if self.bbox is not None and self.aoi is not None:
            raise GeosegError("give --bbox or --aoi, not both")
        if self.osm is not None and driver_for(self.osm) != "GeoJSON":
            raise GeosegError(f"--osm {self.osm}: the buildings for OpenStreetMap are written as GeoJSON (.geojson)")


@dataclass(frozen=True)
class Changes:
    """The three layers, in the found buildings' CRS, and the area that counted."""

    new: gpd.GeoDataFrame
    missing: gpd.GeoDataFrame
    matched: gpd.GeoDataFrame
    found: int  # buildings of each layer inside the area
    existing: int

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in LAYERS} | {"found": self.found, "existing": self.existing}


def read_buildings(path: str | Path, what: str) -> tuple[gpd.GeoDataFrame, Provenance | None]:
    """The polygons of a vector file (its first layer, or its ``buildings`` layer) with their
    ``fid``, and the geoseg provenance of that layer if it has one; one clear line for a file
    that is missing, unreadable, without CRS or not of polygons."""
    import pyogrio
    import pyogrio.errors

    path = Path(path)
    if not path.exists():
        raise GeosegError(f"{what} {path} does not exist")
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        layer = "buildings" if "buildings" in layers else layers[0]
        info = pyogrio.read_info(path, layer=layer)
        frame = pyogrio.read_dataframe(path, layer=layer, fid_as_index=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, IndexError) as exc:
        detail = str(exc).splitlines()[0].split(";")[0] if str(exc) else "no layers"
        raise GeosegError(f"{what} {path} is not a vector file OGR can read ({detail})") from None
    if frame.crs is None:
        raise GeosegError(f"{what} {path} has no CRS; set one (e.g. in QGIS: Layer > Assign Projection)")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    kinds = set(frame.geom_type)
    if not kinds <= POLYGONAL:
        raise GeosegError(f"{what} {path} holds {', '.join(sorted(k.lower() for k in kinds - POLYGONAL))} "
                          "geometries; compare needs building polygons")
    frame = frame.set_geometry(shapely.make_valid(frame.geometry.values))
    frame.index.name = "fid"
    return frame, Provenance.from_metadata(info.get("layer_metadata") or {})


def counted_area(found: gpd.GeoDataFrame, mapped: gpd.GeoDataFrame, provenance: Provenance | None,
                 limit: Area | None):
    """The polygon within which buildings count: the searched area a geoseg output records
    (else the extent of the found buildings), within ``limit``; an error if it is empty."""
    if provenance is not None and provenance.area_wkt:
        area = shapely.from_wkt(provenance.area_wkt)
    elif len(found):
        area = shapely.box(*found.total_bounds)
    else:
        raise GeosegError("no buildings were found and the file does not say where they were searched; "
                          "give --bbox or --aoi")
    if limit is not None:
        area = shapely.intersection(area, shapely.union_all(limit.shapes))
    if area.is_empty or (len(mapped) and not shapely.intersects(area, shapely.box(*mapped.total_bounds))):
        raise GeosegError("the found and the existing buildings share no area (check the files' CRS and --bbox/--aoi)")
    return area


def inside(frame: gpd.GeoDataFrame, area) -> gpd.GeoDataFrame:
    """The buildings whose representative point lies in ``area``."""
    if not len(frame):
        return frame
    shapely.prepare(area)
    return frame[shapely.contains(area, shapely.point_on_surface(frame.geometry.values))]


def changes(found: gpd.GeoDataFrame, mapped: gpd.GeoDataFrame, area, settings: CompareSettings) -> Changes:
    """Compare ``found`` with ``mapped`` (in the same CRS) within ``area``."""
    found, mapped = inside(found, area), inside(mapped, area)
    pairs = match(found.geometry.values, mapped.geometry.values, settings.rule, settings.min_iou)
    ground = Ground(found.crs, at=area.centroid.coords[0])
    return Changes(*_layers(found, mapped, pairs, ground), found=len(found), existing=len(mapped))


def _layers(found: gpd.GeoDataFrame, mapped: gpd.GeoDataFrame, pairs: Matching, ground: Ground):
    found = found.drop(columns=[c for c in found.columns if c in ("change", "existing_fid", "iou")])
    new = found.iloc[pairs.new].assign(change="new")
    matched = found.iloc[pairs.found].assign(change="matched", existing_fid=mapped.index.values[pairs.mapped],
                                             iou=np.round(pairs.iou, 4))
    kept = [c for c in mapped.columns if c != mapped.geometry.name and c not in ("change", "existing_fid", "best_iou",
                                                                                 "area_m2")]
    rows = mapped.iloc[pairs.missing]
    missing = gpd.GeoDataFrame(
        {"change": "missing", "existing_fid": rows.index.values, "best_iou": np.round(pairs.missing_best_iou, 4),
         "area_m2": [round(ground.area(g), 2) for g in rows.geometry.values],
         **{c: rows[c].values for c in kept}},
        geometry=rows.geometry.values, crs=found.crs, index=pd.RangeIndex(len(rows)))
    return new.reset_index(drop=True), missing, matched.reset_index(drop=True)


def write_changes(result: Changes, output: str | Path, metadata: dict, overwrite: bool) -> None:
    """The three layers into a GeoPackage, or into one layer with a ``change`` column for a
    single-layer format; nothing is left behind if writing fails."""
    if driver_for(output) == "GPKG":
        write_layers(output, {name: (getattr(result, name), metadata) for name in LAYERS}, overwrite)
        return
    together = gpd.GeoDataFrame(pd.concat([getattr(result, name) for name in LAYERS], ignore_index=True),
                                crs=result.new.crs)
    write_layers(output, {"changes": (together, None)}, overwrite)


def write_osm(new: gpd.GeoDataFrame, path: str | Path, source: str, overwrite: bool) -> None:
    """New buildings for OpenStreetMap review (JOSM opens it): GeoJSON in EPSG:4326 with only
    the tags ``building=yes`` and ``source``."""
    tagged = gpd.GeoDataFrame({"building": ["yes"] * len(new), "source": [source] * len(new)},
                              geometry=new.geometry.values, crs=new.crs).to_crs("EPSG:4326")
    write_layers(path, {"buildings": (tagged, None)}, overwrite,
                 options={"layer_options": {"RFC7946": "YES", "COORDINATE_PRECISION": 7}})


@dataclass(frozen=True)
class Comparison:
    """``predict --compare``: the buildings found in a run against ``existing``, into ``output``."""

    existing: str
    output: str
    settings: CompareSettings = CompareSettings()

    def outputs(self) -> list[str]:
        return [self.output, *([self.settings.osm] if self.settings.osm else [])]

    def read(self) -> gpd.GeoDataFrame:
        """The mapped buildings (read before a long run, so that a bad file fails at once)."""
        return read_buildings(self.existing, "--compare")[0]

    def run(self, found: gpd.GeoDataFrame, provenance: Provenance, mapped: gpd.GeoDataFrame, overwrite: bool) -> dict:
        return compare_frames(found, provenance, mapped, self.existing, self.output, self.settings, overwrite)


def compare(found_path: str | Path, existing: str | Path, output: str | Path, settings: CompareSettings,
            overwrite: bool = False) -> dict:
    """Compare the buildings of ``found_path`` (usually geoseg's) with those of ``existing``;
    write the changes to ``output`` (and ``settings.osm``). Returns the summary."""
    from geoseg.write.atomic import check_outputs

    check_outputs(Path(found_path), [output, settings.osm], overwrite)
    found, provenance = read_buildings(found_path, "the buildings")
    mapped, _ = read_buildings(existing, "--with")
    return compare_frames(found, provenance, mapped, str(existing), output, settings, overwrite)


def compare_frames(found: gpd.GeoDataFrame, provenance: Provenance | None, mapped: gpd.GeoDataFrame,
                   existing_name: str, output: str | Path, settings: CompareSettings, overwrite: bool) -> dict:
    """:func:`compare` on layers already read (``predict --compare`` hands its own over)."""
    mapped = mapped.to_crs(found.crs) if mapped.crs != found.crs else mapped
    limit = area_of_interest(settings.bbox, settings.bbox_crs, settings.aoi, found.crs)
    area = counted_area(found, mapped, provenance, limit)
    result = changes(found, mapped, area, settings)
    metadata = {"GEOSEG_COMPARED_WITH": existing_name, "GEOSEG_RULE": settings.rule,
                "GEOSEG_MIN_IOU": str(settings.min_iou), **(provenance.metadata() if provenance else {})}
    if settings.osm:
        write_osm(result.new, settings.osm, settings.osm_source or (provenance.source if provenance else "geoseg"),
                  overwrite)
    try:
        write_changes(result, output, metadata, overwrite)
    except BaseException:
        if settings.osm:  # both outputs or neither
            Path(settings.osm).unlink(missing_ok=True)
        raise
    return {"output": str(output), "osm": settings.osm, "with": existing_name, "rule": settings.rule,
            "min_iou": settings.min_iou if settings.rule == "iou" else None, **result.counts()}
