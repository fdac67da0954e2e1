"""One layer from the outputs of many tiles of a mosaic: buildings cut by a tile border are
joined into one polygon."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geoseg.ground import Ground
from geoseg.vectorize.polygons import polygons
from geoseg.write.provenance import COLUMNS as PROVENANCE_COLUMNS
from geoseg.write.vectors import schema, write_vector


def _components(pairs: np.ndarray, n: int) -> np.ndarray:
    """Connected-component id of each of ``n`` items linked by index ``pairs`` (union-find)."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)])


def merge_tiles(paths: list[Path], tolerance: float) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """All buildings of ``paths`` in the first file's CRS, and their columns; buildings of the
    same class from *different* files closer than ``tolerance`` (map units; half a pixel
    suits) are joined. A joined building keeps its class, is ``regularized`` only if all its
    pieces were, scores the area-weighted mean of theirs, and lists the sources, models and
    imagery dates of its pieces."""
    frames = []
    for tile, path in enumerate(paths):
        frame = pyogrio.read_dataframe(path)
        if len(frame):
            frame["_tile"] = tile
            frames.append(frame)
    multiclass = any("class_id" in f for f in frames)
    regularized = any("regularized" in f for f in frames)
    columns = schema(multiclass, regularized) | {c: t for c, t in PROVENANCE_COLUMNS.items() if any(c in f for f in frames)}
    if not frames:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=None), columns
    crs = frames[0].crs
    data = gpd.GeoDataFrame(pd.concat([f.to_crs(crs) for f in frames], ignore_index=True), crs=crs)
    tree = shapely.STRtree(data.geometry.values)
    left, right = tree.query(data.geometry.buffer(tolerance).values, predicate="intersects")
    across = data["_tile"].values[left] != data["_tile"].values[right]
    if multiclass:
        across &= data["class_id"].values[left] == data["class_id"].values[right]
    groups = _components(np.stack([left[across], right[across]], axis=1), len(data))
    ground = Ground(crs, at=tuple(shapely.box(*data.total_bounds).centroid.coords[0]))
    records = []
    for _, members in data.groupby(groups):
        geom = members.geometry.iloc[0]
        if len(members) > 1:
            geom = shapely.union_all(members.geometry.values)
            if geom.geom_type != "Polygon":  # tiles simplified apart: close the hairline gap
                geom = shapely.union_all(members.geometry.buffer(tolerance).values).buffer(-tolerance)
        kept = {"score": round(float(np.average(members["score"].values, weights=members["area_m2"].values)), 4)}
        if multiclass:
            kept |= {"class_id": members["class_id"].iloc[0], "class": members["class"].iloc[0]}
        if regularized:
            kept["regularized"] = bool(members["regularized"].fillna(False).all())
        for name in PROVENANCE_COLUMNS.keys() & set(members):  # of every piece: "a.tif; b.tif"
            known = sorted({str(v) for v in members[name].values if isinstance(v, str)})
            kept[name] = "; ".join(known) or None
        for part in polygons(geom):
            records.append({
                "geometry": part,
                "area_m2": round(ground.area(part), 2),
                "perimeter_m": round(ground.length(part.exterior), 2),
                **kept,
            })
    return gpd.GeoDataFrame(records, geometry="geometry", crs=crs), columns


def write_merged(paths: list[Path], output: Path, tolerance: float, overwrite: bool) -> int:
    """Merge ``paths`` into ``output``; return the number of buildings."""
    merged, columns = merge_tiles(paths, tolerance)
    write_vector(merged.to_dict("records"), output, merged.crs, columns, overwrite)
    return len(merged)
