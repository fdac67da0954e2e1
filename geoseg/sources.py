"""Where scenes come from: local files, or remote files that GDAL reads with HTTP range
requests (``https://``, ``/vsicurl/``, ``/vsis3/``, ``/vsigs/``, ``/vsiaz/`` and the like).

A remote scene is never downloaded whole: GDAL fetches the header, then only the blocks a
read touches. GDAL's own settings come from the environment (``GDAL_HTTP_*``, ``AWS_*``,
``GS_*``, ...); :func:`remote_settings` adds defaults for those a user has not set."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

REMOTE_SCHEMES = ("http://", "https://", "ftp://", "s3://", "gs://", "az://")
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
    return text.lower().startswith(REMOTE_SCHEMES) or text.startswith("/vsi") and not text.startswith("/vsimem/")


def as_source(source: Source) -> Source:
    """``source`` as geoseg keeps it: a :class:`Path` for a local file, the text for a remote one
    (a ``Path`` would fold the ``//`` of a URL)."""
    return str(source) if is_remote(source) else Path(source)


def source_stem(source: Source) -> str:
    """The file name of ``source`` without its extension, also for a URL (query left out)."""
    if is_remote(source):
        return PurePosixPath(str(source).split("?", 1)[0]).stem
    return Path(source).stem


def remote_settings(source: Source) -> dict[str, str]:
    """GDAL settings for reading ``source``: :data:`REMOTE_DEFAULTS` not set in the environment,
    for a remote source; none for a local file."""
    if not is_remote(source):
        return {}
    return {key: value for key, value in REMOTE_DEFAULTS.items() if key not in os.environ}
