"""Where scenes come from: local files, or remote files that GDAL reads with HTTP range
requests (``https://``, ``/vsicurl/``, ``/vsis3/``, ``/vsigs/``, ``/vsiaz/`` and the like).

A remote scene is never downloaded whole: GDAL fetches the header, then only the blocks a
read touches. GDAL's own settings come from the environment (``GDAL_HTTP_*``, ``AWS_*``,
``GS_*``, ...); :func:`remote_settings` adds defaults for those a user has not set."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePosixPath

VSI_PREFIXES = {"http://": "/vsicurl/", "https://": "/vsicurl/", "ftp://": "/vsicurl/", "s3://": "/vsis3/",
                "gs://": "/vsigs/", "az://": "/vsiaz/"}
# Defaults for reading remote scenes; a variable set in the environment wins.
REMOTE_DEFAULTS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no listing of the remote folder for side-car files
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "VSI_CACHE": "TRUE",
}

Source = str | Path


def is_remote(source: Source) -> bool:
    """Whether ``source`` names a remote file (a URL, or a GDAL virtual path to one)."""
    text = str(source)
    return text.lower().startswith(tuple(VSI_PREFIXES)) or text.startswith("/vsi") and not text.startswith("/vsimem/")


def as_source(source: Source) -> Source:
    """``source`` as geoseg keeps it: a :class:`Path` for a local file, the text for a remote one
    (a ``Path`` would fold the ``//`` of a URL)."""
    return str(source) if is_remote(source) else Path(source)


def source_name(source: Source) -> str:
    """The file name of ``source``, also for a URL (its query left out: it may hold a key); a
    tile service's whole URL template."""
    from geoseg.read.tileservice import is_template

    if is_template(source):
        return str(source).split("?", 1)[0]
    if is_remote(source):
        return PurePosixPath(str(source).split("?", 1)[0]).name
    return Path(source).name


def gdal_path(source: Source) -> str:
    """``source`` as GDAL names it: a URL under ``/vsicurl/``, ``s3://`` as ``/vsis3/``, and so on."""
    text = str(source)
    for scheme, prefix in VSI_PREFIXES.items():
        if text.lower().startswith(scheme):
            return prefix + (text if prefix == "/vsicurl/" else text[len(scheme):])
    return text


def remote_settings(source: Source) -> dict[str, str]:
    """GDAL settings for reading ``source``: :data:`REMOTE_DEFAULTS` not set in the environment,
    for a remote source or a tile service; none for a local file."""
    from geoseg.read.tileservice import is_tile_service

    if not (is_remote(source) or is_tile_service(source)):
        return {}
    return {key: value for key, value in REMOTE_DEFAULTS.items() if key not in os.environ}


def remote_version(source: Source) -> int:
    """A number that changes when the remote file ``source`` is rewritten, from its header only
    (a HEAD request and the first bytes, never the pixels): the raster's size, types and
    georeference, its tags, and where its first and last blocks lie and how long they are.
    0 when it cannot be opened (processing it will fail and say why)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        fresh = {"CPL_VSIL_CURL_NON_CACHED": gdal_path(source)}  # not what this process saw of it before
        with rasterio.Env(**remote_settings(source), **fresh), rasterio.open(source) as src:
            rows, cols = (-(-n // b) for n, b in zip(src.shape, src.block_shapes[0]))
            blocks = [src.get_tag_item(f"BLOCK_{what}_{col}_{row}", "TIFF", bidx=1)
                      for what in ("OFFSET", "SIZE") for col, row in ((0, 0), (cols - 1, rows - 1))]
            header = [src.width, src.height, src.count, src.dtypes, str(src.crs), tuple(src.transform), src.tags(), blocks]
    except RasterioIOError:
        return 0
    return int.from_bytes(hashlib.sha1(json.dumps(header, default=str).encode()).digest()[:7], "big")
