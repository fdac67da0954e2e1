"""geoseg: building footprints from georeferenced aerial and satellite scenes.

    import geoseg
    summary = geoseg.predict("scene.tif", "buildings.gpkg", raster="probability.tif")
"""

__version__ = "0.1.0"


def predict(scene, output=None, **options) -> dict:
    """Extract buildings from ``scene`` into ``output``; see :func:`geoseg.pipeline.predict`."""
    from geoseg.pipeline import predict as run  # torch loads on first use, not on import

    return run(scene, output, **options)
