"""geoseg for QGIS: a toolbar button and Processing algorithms that extract buildings."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import GeosegPlugin

    return GeosegPlugin(iface)
