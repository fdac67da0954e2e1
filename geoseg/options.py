"""The settings of a prediction, in one place. ``geoseg predict`` and ``geoseg batch`` build a
:class:`PredictOptions` from their command-line options (same names, with dashes for
underscores), :func:`geoseg.pipeline.predict` and :func:`geoseg.batch.jobs.run_batch` take one, the
batch state hashes one, and the QGIS plugin writes the same names as arguments."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from geoseg.errors import GeosegError
from geoseg.vectorize.polygons import Shaping

ENGINE = ("model", "device", "backend", "precision", "compile", "batch_size", "tta")
# settings that change how fast, never what comes out; the batch digest leaves them out
SPEED_ONLY = ("device", "compile", "batch_size", "workers")


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the system tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True)
class PredictOptions:
    """How a scene is predicted. None means the model card's choice (tile size, overlap,
    threshold, separating touching buildings) or nothing (bands: the scene's, area: the whole
    scene)."""

    # which model, and how it runs (see geoseg.infer.predictor.load_predictor)
    model: str | None = None
    device: str = "auto"
    backend: str = "auto"
    precision: str = "auto"
    compile: str = "auto"  # yes, no, or auto: for scenes (batch: folders) of COMPILE_MIN_MEGAPIXELS or more
    batch_size: int = 4
    tta: bool = False
    # what the model sees
    tile_size: int | None = None
    overlap: int | None = None
    bands: tuple[int, ...] | None = None
    gsd: str = "auto"
    bbox: tuple[float, float, float, float] | None = None  # minx, miny, maxx, maxy in bbox_crs
    bbox_crs: str | None = None  # default: the scene's CRS
    aoi: str | None = None  # a vector file of polygons (any CRS)
    # how probabilities become polygons (see geoseg.vectorize.polygons.Shaping)
    threshold: float | None = None
    simplify: float | None = None
    min_area: float = 10.0
    fill_holes: float = 2.0
    regularize: bool = False
    separate: bool | None = None
    max_size: float = 1000.0  # metres: larger regions are no building and come out cut (see geoseg.vectorize.polygons)
    # how many cores the stages around the model use (None: all this process may use)
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.overlap is not None and self.tile_size is not None and self.overlap >= self.tile_size:
            raise GeosegError(f"--overlap {self.overlap} must be smaller than --tile-size {self.tile_size}")
        if self.bbox is not None and self.aoi is not None:
            raise GeosegError("give --bbox or --aoi, not both")
        if self.bbox_crs is not None and self.bbox is None:
            raise GeosegError("--bbox-crs goes with --bbox")
        if self.bbox is not None and not (self.bbox[0] < self.bbox[2] and self.bbox[1] < self.bbox[3]):
            raise GeosegError(f"--bbox {','.join(map(str, self.bbox))} is not minx,miny,maxx,maxy with min < max")

    @classmethod
    def pop_from(cls, params: dict) -> PredictOptions:
        """The options among ``params`` (a command's parsed parameters, by field name), removed from it."""
        return cls(**{f.name: params.pop(f.name) for f in fields(cls) if f.name in params})

    def cores(self) -> int:
        """``workers``, or the cores this process may run on."""
        return self.workers or available_cores()

    def engine(self) -> dict:
        """The fields that choose the model and how it runs."""
        return {name: getattr(self, name) for name in ENGINE}

    def without_engine(self) -> PredictOptions:
        """These options with the engine fields at their defaults (for a ready predictor)."""
        return replace(self, **{name: getattr(PredictOptions(), name) for name in ENGINE})

    def changed_engine(self) -> list[str]:
        """Engine fields set to something other than their default."""
        default = PredictOptions()
        return [name for name in ENGINE if getattr(self, name) != getattr(default, name)]

    def shaping(self, separate_default: bool = False) -> Shaping:
        """How probabilities become polygons; ``separate`` left at None takes ``separate_default``
        (the model card's choice)."""
        separate = separate_default if self.separate is None else self.separate
        return Shaping(simplify_m=self.simplify, min_area_m2=self.min_area, fill_holes_m2=self.fill_holes,
                       regularize=self.regularize, separate=separate, max_size_m=self.max_size)

    def digest(self, context: str) -> str:
        """``context`` (the model's fingerprint and whatever else decides the outputs), the area
        file as it is now, and every setting that changes an output: a change in any means redo."""
        kept = {k: v for k, v in asdict(self).items() if k not in SPEED_ONLY}
        if self.aoi is not None and Path(self.aoi).is_file():
            stat = Path(self.aoi).stat()
            kept["aoi"] = [self.aoi, stat.st_size, stat.st_mtime_ns]
        text = json.dumps({**kept, "model": context}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]
