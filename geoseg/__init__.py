"""geoseg: building footprints from georeferenced aerial and satellite scenes.

    import geoseg
    summary = geoseg.predict("scene.tif", "buildings.gpkg", geoseg.PredictOptions(threshold=0.4),
                             raster="probability.tif")
"""

__version__ = "0.2.0"


def predict(scene, output=None, options=None, **outputs) -> dict:
    """Extract buildings from ``scene`` into ``output`` as ``options`` (a
    :class:`~geoseg.options.PredictOptions`) say; see :func:`geoseg.pipeline.predict`."""
    from geoseg.options import PredictOptions
    from geoseg.pipeline import predict as run  # torch loads on first use, not on import

    return run(scene, output, options or PredictOptions(), **outputs)


def __getattr__(name: str):
    if name == "PredictOptions":  # imported when first used, like the pipeline
        from geoseg.options import PredictOptions

        return PredictOptions
    raise AttributeError(f"module 'geoseg' has no attribute {name!r}")
