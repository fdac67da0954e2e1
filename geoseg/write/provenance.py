"""Where an output came from: geoseg's version, the model and a digest of its weights, the
threshold and shaping options, the source scene, its imagery date and the area that was
searched. Pure data and text: written by the vector and raster writers as metadata (and, in
short, as columns), read back by ``geoseg info`` and ``geoseg compare``."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields

PREFIX = "GEOSEG_"  # metadata keys: GEOSEG_MODEL, GEOSEG_SOURCE, ...
# Scene tags that hold when the imagery was taken, most trustworthy first. GDAL puts the
# acquisition time of satellite products in the IMAGERY domain (ACQUISITIONDATETIME); TIFF's
# DATETIME is when the file was made, which is often, but not always, the imagery date.
DATE_TAGS = ("ACQUISITIONDATETIME", "ACQUISITION_DATE", "ACQUISITIONDATE", "DATE_ACQUIRED", "ACQUISITION_TIME",
             "IMAGE_DATE", "DATE", "TIFFTAG_DATETIME")
# The short form each building carries (names of at most 10 characters, for shapefiles).
COLUMNS = {"source": "object", "model": "object", "image_date": "object"}


@dataclass(frozen=True)
class Provenance:
    """What made an output: geoseg's ``version``, the model; ``imagery_date`` is ISO
    (YYYY-MM-DD) or None, ``imagery_date_tag`` the scene tag it was read from, ``area_wkt``
    the searched area in the output's CRS."""

    version: str
    model: str
    model_digest: str
    threshold: float
    shaping: dict
    source: str
    imagery_date: str | None = None
    imagery_date_tag: str | None = None
    area_wkt: str | None = None

    def metadata(self) -> dict[str, str]:
        """As ``GEOSEG_*`` text items (GeoPackage layer metadata, raster tags)."""
        items = {}
        for key, value in asdict(self).items():
            if value is None:
                continue
            items[PREFIX + key.upper()] = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
        return items

    def columns(self) -> dict[str, str | None]:
        """The short form each building carries: scene, model@digest, imagery date."""
        return {"source": self.source, "model": f"{self.model}@{self.model_digest}", "image_date": self.imagery_date}

    @classmethod
    def from_metadata(cls, items: dict[str, str]) -> Provenance | None:
        """Read :meth:`metadata` back; None when ``items`` holds no geoseg provenance."""
        if PREFIX + "VERSION" not in items or PREFIX + "SOURCE" not in items:
            return None
        values = {}
        for f in fields(cls):
            text = items.get(PREFIX + f.name.upper())
            if text is None:
                continue
            values[f.name] = float(text) if f.name == "threshold" else json.loads(text) if f.name == "shaping" else text
        return cls(**{"model_digest": "", "threshold": float("nan"), "shaping": {}} | values)  # GDAL drops empty values


def imagery_date(tags: dict[str, str]) -> tuple[str | None, str | None]:
    """The imagery date among a scene's ``tags`` (any domain, merged) as ``(YYYY-MM-DD, tag)``,
    or ``(None, None)`` when no tag of :data:`DATE_TAGS` holds a readable date."""
    upper = {key.upper(): value for key, value in tags.items()}
    for tag in DATE_TAGS:
        date = parse_date(upper.get(tag, ""))
        if date is not None:
            return date, tag
    return None, None


def area_text(geometry) -> str:
    """The searched area as WKT, to a millionth of the CRS's unit (10 cm in degrees)."""
    import shapely

    return shapely.to_wkt(geometry, rounding_precision=6)


_DATE = re.compile(r"^\s*(\d{4})[-:/]?(\d{2})[-:/]?(\d{2})(?:[T ]|$)")


def parse_date(text: str) -> str | None:
    """``2016:05:04 12:00:00`` (TIFF), ``2016-05-04T12:00:00Z`` (ISO) or ``20160504`` as
    ``2016-05-04``; None for anything else or an impossible date."""
    found = _DATE.match(text or "")
    if not found:
        return None
    year, month, day = (int(g) for g in found.groups())
    if not (1900 < year < 2200 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"
