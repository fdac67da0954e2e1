"""Networks, heads, model cards and weights files."""

from geoseg.models.card import ModelCard
from geoseg.models.registry import DEFAULT_MODEL, PRESETS, create, load

__all__ = ["DEFAULT_MODEL", "PRESETS", "ModelCard", "create", "load"]
