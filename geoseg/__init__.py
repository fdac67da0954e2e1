"""geoseg: building footprints from georeferenced aerial and satellite scenes."""

__version__ = "0.1.0"
