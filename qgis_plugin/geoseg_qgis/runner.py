"""Running the geoseg command line from QGIS: finding it, building its arguments, following
its JSON progress lines and cancelling it. Plain Python (no QGIS, no torch), so QGIS's own
Python never loads PyTorch or numpy 2: the work happens in the geoseg process."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from urllib.parse import parse_qs

# Overall progress: tiles are most of the work, vectorising the rest.
STAGES = ("infer", "files", "vectorize")  # geoseg predict, batch and vectorize; predict makes polygons beside inference
ENV_EXECUTABLE = "GEOSEG_EXECUTABLE"
# Splitting touching buildings, as offered in the dialog and Processing: the value of --separate.
SEPARATE = {"as the model decides": None, "split touching buildings": True, "keep touching buildings together": False}


# Layer sources geoseg reads without a local file: GDAL's network file systems and URLs.
REMOTE_PREFIXES = ("/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/", "/vsiadls/", "/vsioss/", "/vsiswift/",
                   "http://", "https://", "s3://", "gs://")


def readable_source(source: str) -> bool:
    """Whether geoseg can read the layer source ``source``: a local file, or a remote file
    (passed to the CLI unchanged, which reads it with range requests)."""
    return os.path.isfile(source) or source.startswith(REMOTE_PREFIXES)


def service_scene(source: str) -> str | None:
    """What geoseg reads for the source of a QGIS tile layer (provider ``wms``): an XYZ layer's
    URL template, or a WMTS layer as GDAL's ``WMTS:capabilities,layer=...`` connection; None
    for anything else (plain WMS, which serves maps rather than tiles)."""
    fields = {key: values[0] for key, values in parse_qs(source, keep_blank_values=True).items()}
    url = fields.get("url", "")
    if fields.get("type") == "xyz" and url:
        return url
    if fields.get("tileMatrixSet") and url:
        extra = [f"{name}={fields[key]}" for name, key in (("layer", "layers"), ("tilematrixset", "tileMatrixSet"),
                                                            ("style", "styles")) if fields.get(key)]
        return ",".join([f"WMTS:{url}", *extra])
    return None


def layer_scene(provider: str, source: str) -> str | None:
    """What geoseg reads for a raster layer: its file or URL (GDAL layers), its tile service
    (XYZ and WMTS layers), or None when geoseg cannot read it."""
    if provider == "gdal":
        return source if readable_source(source) else None
    if provider == "wms":
        return service_scene(source)
    return None


def output_beside(source: str, suffix: str) -> str:
    """A default output name for a layer source: beside its file, or in the home folder for a
    remote one (named after the file the URL ends in)."""
    if source.startswith(REMOTE_PREFIXES):
        name = source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        source = os.path.join(os.path.expanduser("~"), name)
    return os.path.splitext(source)[0] + suffix


class RunnerError(Exception):
    """The geoseg command could not be found or started."""


def find_executable(configured: str | None = None) -> str:
    """The geoseg command: the plugin setting, then $GEOSEG_EXECUTABLE, then PATH."""
    for candidate in (configured, os.environ.get(ENV_EXECUTABLE), shutil.which("geoseg")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RunnerError(
        "the geoseg command was not found: install geoseg (pip install geoseg), or give its path in "
        "the QGIS setting geoseg/executable (Settings > Options > Advanced) or in $GEOSEG_EXECUTABLE"
    )


def option_arguments(options: dict) -> list[str]:
    """Arguments for geoseg's prediction options, named as the fields of
    ``geoseg.options.PredictOptions`` (the CLI's option names with underscores): None is left
    out (the model's or the CLI's default), True and False become ``--name`` and ``--no-name``,
    lists and tuples are comma-separated."""
    args: list[str] = []
    for name, value in options.items():
        flag = name.replace("_", "-")
        if value is None:
            continue
        if value is True or value is False:
            args.append(f"--{flag}" if value else f"--no-{flag}")
        elif isinstance(value, (list, tuple)):
            args += [f"--{flag}", ",".join(str(v) for v in value)]
        else:
            args += [f"--{flag}", str(value)]
    return args


def predict_command(executable: str, scene: str, output: str, options: dict | None = None,
                    raster: str | None = None) -> list[str]:
    """Arguments for ``geoseg predict`` (a list: never run through a shell)."""
    args = [executable, "predict", scene, "-o", output, "--overwrite", "--progress", "json"]
    if raster:
        args += ["--raster", raster]
    return args + option_arguments(options or {})


def compare_command(executable: str, predicted: str, existing: str, output: str, options: dict | None = None) -> list[str]:
    """Arguments for ``geoseg compare`` (its options by name: match, min_iou, osm, bbox, ...)."""
    return [executable, "compare", predicted, "--with", existing, "-o", output, "--overwrite",
            *option_arguments(options or {})]


def vectorize_command(executable: str, raster: str, output: str, options: dict | None = None) -> list[str]:
    """Arguments for ``geoseg vectorize`` (shaping and area options only)."""
    return [executable, "vectorize", raster, "-o", output, "--overwrite", "--progress", "json",
            *option_arguments(options or {})]


def batch_command(executable: str, folder: str, output_folder: str, options: dict | None = None,
                  pattern: str = "*.tif", recursive: bool = False, merge: str | None = None) -> list[str]:
    """Arguments for ``geoseg batch``. It waits for another run on the same output folder
    (geoseg says so in a line that :func:`run` passes on)."""
    args = [executable, "batch", folder, "-o", output_folder, "--pattern", pattern, "--progress", "json", "--wait"]
    if recursive:
        args.append("--recursive")
    if merge:
        args += ["--merge", merge]
    return args + option_arguments(options or {})


def progress_of(line: str) -> float | None:
    """Overall percent from one JSON progress line, or None for any other line."""
    try:
        update = json.loads(line)
        if update["stage"] in STAGES:
            return float(update["percent"])
    except (ValueError, KeyError, TypeError):
        pass
    return None


def error_of(lines: list[str]) -> str:
    """The one line geoseg prints on failure, without its prefix; else the last line."""
    for line in reversed(lines):
        if line.startswith("geoseg: error: "):
            return line[len("geoseg: error: "):]
    text = [line for line in lines if line.strip() and progress_of(line) is None]
    return text[-1] if text else "geoseg failed without a message"


def run(args: list[str], on_progress: Callable[[float], None], is_canceled: Callable[[], bool],
        on_message: Callable[[str], None] = lambda line: None, poll: float = 0.2) -> tuple[int, str | None]:
    """Run geoseg to the end or until ``is_canceled()``; return (exit code, error line or None).
    Progress lines go to ``on_progress`` as percentages, geoseg's other notes (``geoseg: ...``,
    such as waiting for another batch run) to ``on_message``.

    Cancelling sends SIGTERM: geoseg then removes its temporary files and exits 130."""
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        raise RunnerError(f"could not start {args[0]}: {exc}") from None
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stderr], daemon=True)
    reader.start()
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=poll)
        except queue.Empty:
            line = None
        if line is not None:
            seen.append(line)
            percent = progress_of(line)
            if percent is not None:
                on_progress(percent)
            elif line.startswith("geoseg: ") and not line.startswith("geoseg: error: "):
                on_message(line[len("geoseg: "):])
        if is_canceled() and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.poll() is not None and not reader.is_alive() and lines.empty():
            break
    proc.stdout.close()
    return proc.returncode, (None if proc.returncode == 0 else error_of(seen))
