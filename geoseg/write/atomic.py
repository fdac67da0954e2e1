"""Outputs that appear under their final name only when complete."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from geoseg.errors import GeosegError


def check_outputs(source: str | Path, outputs: list, overwrite: bool) -> None:
    """Refuse outputs (None: not asked for) that are the input ``source`` (a local file, or a
    remote one that cannot be), share a name, or cannot be written (see :func:`check_writable`)."""
    named = [Path(p) for p in outputs if p is not None]
    for path in named:
        if isinstance(source, Path) and path.exists() and source.exists() and path.resolve() == source.resolve():
            raise GeosegError(f"the output {path} is the input scene; choose another name")
        check_writable(path, overwrite)
    if len({p.resolve() for p in named}) < len(named):
        raise GeosegError("two outputs have the same name")


def check_writable(path: str | Path, overwrite: bool) -> Path:
    """Refuse an output that exists (unless ``overwrite``) or whose folder is missing or read-only."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise GeosegError(f"{path} exists; use --overwrite to replace it")
    if path.is_dir():
        raise GeosegError(f"{path} is a directory, not a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise GeosegError(f"the output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise GeosegError(f"the output folder {folder} is not writable")
    return path


TEMPORARY_GLOB = ".*.geoseg-*.part*"


def temporary_name(path: Path) -> Path:
    """A hidden name beside ``path`` with the same suffix, unique to this process."""
    return path.with_name(f".{path.name}.geoseg-{os.getpid()}.part{path.suffix}")


@contextlib.contextmanager
def atomic_output(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, move it (and side-car
    files a format writes beside it, such as a shapefile's .dbf) to the final name. If the
    block fails or is interrupted, remove everything it wrote."""
    final = check_writable(path, overwrite)
    tmp = temporary_name(final)
    try:
        yield tmp
        for sidecar in tmp.parent.glob(tmp.stem + ".*"):
            if sidecar != tmp:
                os.replace(sidecar, final.with_name(final.stem + sidecar.name[len(tmp.stem):]))
        os.replace(tmp, final)
    finally:
        for leftover in tmp.parent.glob(tmp.stem + "*"):
            leftover.unlink(missing_ok=True)
