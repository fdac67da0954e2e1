"""Output heads: what the channels of a network mean (classes, activation, colours)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Head:
    classes: tuple[str, ...]
    activation: str  # "sigmoid" (one channel, binary) or "softmax"
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int | None = None
    photos: bool = False  # trained on street-level photos: reads images without a georeference

    @property
    def num_outputs(self) -> int:
        return 1 if self.activation == "sigmoid" else len(self.classes)


BUILDINGS = Head(classes=("building",), activation="sigmoid", palette=((230, 50, 50),))

# SegNet's CamVid: 11 classes and void (index 11, ignored in the loss and metrics).
CAMVID = Head(
    classes=(
        "sky", "building", "pole", "road", "pavement", "tree",
        "sign_symbol", "fence", "car", "pedestrian", "bicyclist", "void",
    ),
    activation="softmax",
    palette=(
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
        (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192), (0, 0, 0),
    ),
    ignore_index=11,
    photos=True,
)

# Cityscapes train IDs 0-18; label 255 is ignored.
CITYSCAPES = Head(
    classes=(
        "road", "sidewalk", "building", "wall", "fence", "pole", "traffic_light", "traffic_sign",
        "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
        "motorcycle", "bicycle",
    ),
    activation="softmax",
    palette=(
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
        (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
        (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
    ),
    ignore_index=255,
    photos=True,
)

HEADS = {"buildings": BUILDINGS, "camvid": CAMVID, "cityscapes": CITYSCAPES}


def building_probability(probs, separation: bool):
    """A binary model's building probability ``(N, 1, H, W)`` from its network's sigmoid outputs
    ``(N, 1 or 2, H, W)`` (numpy or torch): with ``separation``, buildings are suppressed where
    the second output says two buildings meet, so that touching buildings fall apart into
    two; without it, a second output is left out."""
    if not separation:
        return probs[:, :1]
    return probs[:, :1] * (1 - probs[:, 1:2])
