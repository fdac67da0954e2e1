"""The model card: everything inference needs to know about a model, stored with its weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from geoseg.errors import GeosegError
from geoseg.models.heads import HEADS

CARD_VERSION = 1
FINE_SCENE_M = 0.2  # scenes with finer pixels than this are UAV/drone mosaics (see ModelCard.fine_gsd_m)


@dataclass
class ModelCard:
    """Self-description of a trained (or freshly initialised) model.

    ``scaling`` turns raw pixel values into 0-1 before ``mean``/``std`` normalisation:
    ``{"method": "percentile", "low": 2, "high": 98}`` stretches each band between those
    percentiles of the scene, which makes uint8, uint16 and float scenes look alike.
    """

    name: str
    architecture: str
    task: str
    classes: list[str]
    activation: str
    bands: list[str] = field(default_factory=lambda: ["red", "green", "blue"])
    scaling: dict = field(default_factory=lambda: {"method": "percentile", "low": 2.0, "high": 98.0})
    mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list[float] = field(default_factory=lambda: [0.25, 0.25, 0.25])
    gsd_m: float | None = None  # the pixel size predict brings scenes to (--gsd auto)
    fine_gsd_m: float | None = None  # if set, the pixel size for scenes finer than FINE_SCENE_M instead
    tile_size: int = 512
    overlap: int = 64
    threshold: float = 0.5
    separation: bool = False  # binary models: a second output, where buildings touch (see building_probability)
    separate: bool = False  # binary models: split touching buildings unless told not to (--no-separate)
    palette: list[list[int]] = field(default_factory=list)
    ignore_index: int | None = None
    trained: bool = False
    initialisation: str = ""  # where the weights started: random, ImageNet encoder, another model
    training_data: str = ""
    licence: str = ""
    metrics: dict = field(default_factory=dict)
    geoseg_version: str = ""
    card_version: int = CARD_VERSION

    @property
    def num_outputs(self) -> int:
        """Probability channels a prediction has: 1 for a sigmoid (binary) head, one per class otherwise."""
        return 1 if self.activation == "sigmoid" else len(self.classes)

    @property
    def network_outputs(self) -> int:
        """Channels the network produces: the probabilities, and the separation output if any."""
        return self.num_outputs + int(self.separation)

    def gsd_for(self, scene_m: float | None) -> float | None:
        """The pixel size the model sees a scene of ``scene_m``-metre pixels at (``--gsd auto``):
        :attr:`fine_gsd_m` for UAV mosaics (pixels finer than :data:`FINE_SCENE_M`), where the
        card has one, else :attr:`gsd_m`."""
        if self.fine_gsd_m is not None and scene_m is not None and scene_m < FINE_SCENE_M:
            return self.fine_gsd_m
        return self.gsd_m

    @property
    def for_photos(self) -> bool:
        """Whether the model reads ordinary photos (street scenes) rather than map imagery: such
        images need no georeference."""
        head = HEADS.get(self.task)
        return head is not None and head.photos

    @property
    def in_channels(self) -> int:
        return len(self.bands)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelCard":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GeosegError(f"the model card is not valid JSON ({exc})") from None
        known = {f.name for f in fields(cls)}
        missing = {"name", "architecture", "task", "classes", "activation"} - data.keys()
        if missing:
            raise GeosegError(f"the model card lacks {', '.join(sorted(missing))}")
        card = cls(**{k: v for k, v in data.items() if k in known})
        if card.activation not in ("sigmoid", "softmax"):
            raise GeosegError(f"the model card names an unknown activation {card.activation!r}")
        return card
