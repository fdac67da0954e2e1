"""The ``geoseg`` command line. Every command is a thin call into the modules."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import traceback
import warnings

import click

from geoseg import __version__
from geoseg.errors import GeosegError
from geoseg.write.formats import RASTER_FORMATS, VECTOR_FORMATS

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _bands(ctx, param, value: str | None) -> tuple[int, ...] | None:
    if not value:
        return None
    try:
        bands = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("give 1-based band numbers separated by commas, e.g. 1,2,3") from None
    if any(b < 1 for b in bands):
        raise click.BadParameter("band numbers start at 1")
    return bands


def _gsd(ctx, param, value: str) -> str:
    from geoseg.read.resample import target_gsd

    try:
        target_gsd(value, None)
    except GeosegError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _creation_options(ctx, param, values: tuple[str, ...]) -> dict:
    options = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        options[key.lower()] = val
    return options


def _dask_resources(ctx, param, values: tuple[str, ...]) -> dict[str, float]:
    resources = {}
    for item in values:
        name, sep, count = item.partition("=")
        try:
            resources[name] = float(count)
        except ValueError:
            raise click.BadParameter(f"{item!r} is not NAME=COUNT, e.g. GPU=1") from None
        if not sep or not name or resources[name] <= 0:
            raise click.BadParameter(f"{item!r} is not NAME=COUNT, e.g. GPU=1")
    return resources


def _bbox(ctx, param, value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        box = tuple(float(v) for v in value.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise click.BadParameter("give minx,miny,maxx,maxy, e.g. 500000,4100000,502000,4102000")
    return box


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun in the number it takes: "1 building", "2 buildings"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def show_summary(summary: dict, as_json: bool, line: str) -> None:
    """The summary on stdout: one JSON line with --json, else ``line`` unless -q."""
    if as_json:
        click.echo(json.dumps(summary))
    elif not said("quiet"):
        click.echo(line)


def _remember(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """-v and -q go before or after the command name (as with rio); either place counts."""
    if value:
        ctx.meta[f"geoseg.{param.name}"] = True


def verbosity(command):
    """The -v/--verbose and -q/--quiet options, on the group and on each command."""
    command = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_remember,
                           help="No progress bars, no summary line, no training log.")(command)
    return click.option("-v", "--verbose", is_flag=True, expose_value=False, callback=_remember,
                        help="Say more (device, model, timings) and show tracebacks.")(command)


def said(name: str) -> bool:
    """Whether -v (``verbose``) or -q (``quiet``) was given, before or after the command."""
    return bool(click.get_current_context().meta.get(f"geoseg.{name}"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geoseg")
@verbosity
def cli() -> None:
    """Extract building footprints from georeferenced aerial and satellite scenes."""


def options_group(*options):
    """A decorator that adds ``options`` to a command, in this order."""

    def add(command):
        for option in reversed(options):
            command = option(command)
        return command

    return add


# Which model runs and how, and what it sees: options of predict and batch.
engine_options = options_group(
    click.option("-m", "--model", help="Model name (see 'geoseg models') or weights file (.safetensors, .onnx). Default: the shipped building model."),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True, help="Where the model runs; auto prefers a GPU."),
    click.option("--backend", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True, help="Inference engine; auto uses ONNX Runtime for .onnx models, PyTorch otherwise."),
    click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True, help="Arithmetic of the torch backend; auto: bf16 on CPUs with bf16 units, fp16 on CUDA, else fp32."),
    click.option("--compile", type=click.Choice(["auto", "yes", "no"]), default="auto", show_default=True, help="Run the network compiled ahead of time (AOTInductor; the first compile of a tile size takes about 30 s, later runs load it from the cache in about a second). auto: for scenes (batch: folders) of 50 MP and more."),
    click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True, help="Tiles per forward pass."),
    click.option("--tta/--no-tta", default=False, help="Test-time augmentation: average each tile over its flips (left-right, top-bottom, both); four times the model's work for about +0.02 pixel IoU and +0.03 object F1 (docs/models.md)."),
    click.option("--tile-size", type=click.IntRange(min=16), help="Tile side in pixels. Default: the model card's."),
    click.option("--overlap", type=click.IntRange(min=0), help="Pixels shared by neighbouring tiles. Default: the model card's."),
    click.option("--bands", callback=_bands, help="Scene bands to use, 1-based, in the model's order (e.g. 3,2,1); one band is replicated."),
    click.option("--gsd", callback=_gsd, default="auto", show_default=True, metavar="auto|native|METRES", help="Pixel size the model sees. auto: the model card's (for the shipped model 0.5 m, and 0.3 m for UAV mosaics with pixels finer than 0.2 m, where it finds more of the small houses); scenes more than 10 % finer or coarser are resampled on the fly (and run faster when finer). native: the scene's own pixels. Polygons come out in the scene's CRS either way."),
)


# The area of interest: options of predict, batch and vectorize.
area_options = options_group(
    click.option("--bbox", callback=_bbox, metavar="MINX,MINY,MAXX,MAXY", help="Work only inside this box (in the scene's CRS, or --bbox-crs): only the tiles that touch it are read and run, and buildings crossing its edge are cut there. The probability raster covers the box."),
    click.option("--bbox-crs", metavar="CRS", help="The CRS of --bbox, e.g. EPSG:4326 (lon,lat)."),
    click.option("--aoi", metavar="VECTOR", help="Work only inside the polygons of this vector file (any format OGR reads, any CRS); as --bbox, buildings crossing the edge are cut there."),
)


# How probabilities become polygons: options of predict, batch and vectorize.
shaping_options = options_group(
    click.option("--threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True), help="Building probability cut. Default: the model card's."),
    click.option("--simplify", type=click.FloatRange(min=0), help="Simplification tolerance in metres. Default: one pixel."),
    click.option("--min-area", type=click.FloatRange(min=0), default=10.0, show_default=True, help="Drop buildings smaller than this many square metres (a 3 x 3 m shed is 9 m²): smaller patches are mostly noise, and dropping them raised object F1 on the validation places."),
    click.option("--fill-holes", type=click.FloatRange(min=0), default=2.0, show_default=True, help="Fill holes smaller than this many square metres."),
    click.option("--regularize/--no-regularize", default=False, help="Straighten outlines: walls parallel or perpendicular to the building's main direction (kept as traced where that would change the shape)."),
    click.option("--separate/--no-separate", default=None, help="Split touching buildings where the probability dips between them (a watershed from the confident cores of each building). Default: the model card's (on for the shipped building model)."),
    click.option("--max-size", type=click.FloatRange(min=0, min_open=True), default=1000.0, show_default=True, metavar="METRES", help="A region of building pixels longer than this on a side is no building (a field, a shadow, a town painted as one): it is written cut into pieces along a grid of 256 x 1024 of the model's pixels, which keeps vectorising fast whatever the mask looks like; the summary counts such regions (cut_regions)."),
)


# CPU cores for the work around the model: an option of predict and vectorize (batch's --workers counts processes).
workers_option = click.option("--workers", type=click.IntRange(min=1), help="CPU cores for the work around the model: threads that read and stretch tiles, and threads that split, label and trace the strips that become polygons (beyond 4, worker processes instead, one per eight 2 MP strips at most). Default: all this process may use. The outputs are the same whatever the number. (batch's --workers counts processes; each then uses its share of the cores.)")


# How progress and the summary are shown.
report_options = options_group(
    click.option("--progress", "progress_mode", type=click.Choice(["auto", "bar", "json", "none"]), default="auto", show_default=True, help="Progress on stderr: bars on a terminal, or JSON lines for programs."),
    click.option("--json", "as_json", is_flag=True, help="Print a one-line JSON summary on stdout."),
)


# How found buildings are compared with mapped ones: options of compare and predict --compare.
match_options = options_group(
    click.option("--match", "rule", type=click.Choice(["iou", "overlap"]), default="iou", show_default=True, help="iou: one-to-one pairs whose intersection over union reaches --min-iou. overlap: any overlap is a match, for an existing layer drawn at another level of detail (a polygon per block): a found building is new only if it touches no mapped one, a mapped one missing only if no found one touches it."),
    click.option("--min-iou", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True, help="Intersection over union for a match with --match iou."),
    click.option("--osm", type=click.Path(dir_okay=False), help="Also write the new buildings as GeoJSON in EPSG:4326 tagged building=yes and source=..., ready to review in JOSM."),
    click.option("--osm-source", metavar="TEXT", help="The source tag of --osm's buildings (OpenStreetMap names the imagery there, e.g. 'Maxar'). Default: the scene's file name."),
)


def compare_settings(params: dict, **area):
    """The :class:`~geoseg.changes.compare.CompareSettings` among a command's parameters (removed from them)."""
    from geoseg.changes.compare import CompareSettings

    try:
        return CompareSettings(rule=params.pop("rule"), min_iou=params.pop("min_iou"), osm=params.pop("osm"),
                               osm_source=params.pop("osm_source"), **area)
    except GeosegError as exc:
        raise click.UsageError(str(exc)) from None


def changes_line(summary: dict) -> str:
    rule = f"IoU >= {summary['min_iou']:g}" if summary["rule"] == "iou" else "any overlap"
    return (f"{summary['new']} new, {summary['missing']} missing, {summary['matched']} matched "
            f"({summary['found']} found, {summary['existing']} mapped in the area; {rule}) -> {summary['output']}"
            + (f", {summary['osm']}" if summary["osm"] else ""))


def inference_options(command):
    """Every option of predict and batch: one per field of geoseg.options.PredictOptions (same
    names), then how progress and the summary are shown."""
    for group in (report_options, shaping_options, area_options, engine_options):
        command = group(command)
    return verbosity(command)


def predict_options(params: dict):
    """The :class:`~geoseg.options.PredictOptions` among a command's parameters (removed from them)."""
    from geoseg.options import PredictOptions

    try:
        return PredictOptions.pop_from(params)
    except GeosegError as exc:
        raise click.UsageError(str(exc)) from None


@cli.command()
@click.argument("scene", type=click.Path(dir_okay=True, path_type=str))
@click.option("-o", "--output", help="Building polygons (class regions for a multiclass model); format from the extension (.gpkg, .geojson, .fgb, .shp). May be left out when --raster or --preview is given.")
@click.option("--raster", help="Also write the building probability (uint8 0-255) or, for a multiclass model, the class IDs (with their colours) and the winning class's probability, on the grid the model saw (see --gsd): a tiled GeoTIFF, or with a .png name a PNG of the first band.")
@click.option("--raster-format", type=click.Choice(RASTER_FORMATS), help="Format of --raster: gtiff (tiled GeoTIFF), cog (Cloud-Optimised GeoTIFF with overviews, for web maps and object storage; costs a copy at the end) or png (the first band). Default: png for a .png name, gtiff otherwise.")
@click.option("--preview", help="Also write a PNG quick-look: the outlines over the scene, or the scene tinted with the class colours.")
@workers_option
@click.option("--compare", "existing", metavar="VECTOR", help="Also compare the buildings found with these mapped buildings (any vector file OGR reads, any CRS), as 'geoseg compare' does, within the area searched.")
@click.option("--changes", metavar="FILE", help="Where --compare writes the layers new, missing and matched. Default: OUTPUT's name with '_changes.gpkg'.")
@match_options
@inference_options
@click.option("--co", "creation_options", multiple=True, callback=_creation_options, metavar="KEY=VAL", help="GDAL creation option for the GeoTIFF of --raster (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace outputs that exist.")
def predict(scene, output, raster, raster_format, preview, existing, changes, creation_options, overwrite, progress_mode,
            as_json, **params):
    """Find the buildings in SCENE and write them to OUTPUT.

    SCENE is a georeferenced raster. A street-scene model (enet-camvid, enet-cityscapes) also
    reads ordinary photos (PNG, JPEG) without a georeference; their polygons are then in pixel
    coordinates (x: column, y: row from the top-left corner) and have no CRS.

    \b
    Examples:
      geoseg predict scene.tif -o buildings.gpkg --raster probability.tif
      geoseg predict scene.tif -o town.gpkg --bbox 12.48,41.88,12.50,41.90 --bbox-crs EPSG:4326
      geoseg predict street.png --model enet-camvid --raster classes.png --preview view.png
      geoseg predict scene.tif -o buildings.gpkg --compare osm_buildings.gpkg --osm new_for_josm.geojson
    """
    from geoseg.pipeline import predict as run
    from geoseg.progress import reporting

    if not (output or raster or preview):
        raise click.UsageError("nothing to write: give -o/--output, --raster or --preview")
    if raster_format and not raster:
        raise click.UsageError("--raster-format goes with --raster")
    comparison = comparison_of(existing, changes, output, compare_settings(params))
    options = predict_options(params)
    with reporting(progress_mode, said("quiet")) as report:
        summary = run(scene, output, options, raster=raster, raster_format=raster_format, preview=preview,
                      overwrite=overwrite, creation_options=creation_options, progress=report, comparison=comparison)
    written = ", ".join(p for p in (summary["output"], summary["raster"], summary["preview"]) if p)
    show_summary(summary, as_json,
                 (counted(summary["buildings"], "class region" if summary["multiclass"] else "building") + " "
                  if summary["buildings"] is not None else "")
                 + f"-> {written} "
                 f"({summary['width']}x{summary['height']} px"
                 + (", in pixel coordinates: the image has no georeference" if summary["pixel_coordinates"] else "")
                 + (f", seen at {summary['gsd_m']:.2f} m" if summary["resampled"] else "")
                 + (f", inside {summary['area_of_interest']}" if summary["area_of_interest"] else "")
                 + (f", {counted(summary['cut_regions'], 'region')} over --max-size cut" if summary["cut_regions"] else "")
                 + f", {summary['seconds']:.1f} s, "
                 f"{summary['megapixels_per_second']:.2f} MP/s on {summary['device']}, model {summary['model']})")
    if summary["changes"] and not as_json and not said("quiet"):
        click.echo(changes_line(summary["changes"]))
    if said("verbose"):
        click.echo(json.dumps(summary, indent=2), err=True)


def comparison_of(existing: str | None, changes: str | None, output: str | None, settings):
    """predict's --compare, or None; the changes go beside OUTPUT unless --changes names them."""
    from pathlib import Path

    from geoseg.changes.compare import Comparison

    if existing is None:
        if changes or settings != type(settings)():
            raise click.UsageError("--changes, --match, --min-iou, --osm and --osm-source go with --compare")
        return None
    if changes is None:
        if output is None:
            raise click.UsageError("--compare needs -o/--output or --changes")
        changes = str(Path(output).with_name(Path(output).stem + "_changes.gpkg"))
    return Comparison(existing, changes, settings)


@cli.command()
@click.argument("raster", type=click.Path(dir_okay=False, path_type=str))
@click.option("-o", "--output", required=True, help="Building polygons; format from the extension (.gpkg, .geojson, .fgb, .shp).")
@shaping_options
@area_options
@report_options
@verbosity
@workers_option
@click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
def vectorize(raster, output, overwrite, progress_mode, as_json, **params):
    """Building polygons from RASTER, a building probability written by 'geoseg predict
    --raster' (or any single-band raster with a CRS: integers 0-255, floats 0-1), without
    running the model again: re-threshold or re-shape in seconds. The threshold and the
    splitting of touching buildings default to what predict used (the raster's tags), else 0.5
    and no splitting.

    \b
    Example:
      geoseg predict scene.tif -o buildings.gpkg --raster prob.tif
      geoseg vectorize prob.tif -o strict.gpkg --threshold 0.7 --regularize
    """
    from geoseg.progress import reporting
    from geoseg.vectorize.revectorize import vectorize_raster

    options = predict_options(params)
    with reporting(progress_mode, said("quiet")) as report:
        summary = vectorize_raster(raster, output, options, overwrite=overwrite, progress=report)
    show_summary(summary, as_json,
                 f"{counted(summary['buildings'], 'building')} -> {summary['output']} ({summary['width']}x{summary['height']} px, "
                 f"threshold {summary['threshold']:g}"
                 + (f", {counted(summary['cut_regions'], 'region')} over --max-size cut" if summary["cut_regions"] else "")
                 + f", {summary['seconds']:.1f} s)")


@cli.command()
@click.argument("predicted", type=click.Path(dir_okay=False, path_type=str))
@click.option("--with", "existing", required=True, type=click.Path(dir_okay=False, path_type=str), help="The buildings already mapped: any vector file OGR reads (GeoPackage, shapefile, GeoJSON, an OpenStreetMap extract...), in any CRS.")
@click.option("-o", "--output", required=True, help="The changes: a GeoPackage with the layers new, missing and matched, or one layer with a 'change' column in a single-layer format (.geojson, .fgb, .shp).")
@match_options
@click.option("--bbox", callback=_bbox, metavar="MINX,MINY,MAXX,MAXY", help="Count only buildings inside this box (in PREDICTED's CRS, or --bbox-crs).")
@click.option("--bbox-crs", metavar="CRS", help="The CRS of --bbox, e.g. EPSG:4326 (lon,lat).")
@click.option("--aoi", metavar="VECTOR", help="Count only buildings inside the polygons of this vector file (any CRS).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON line.")
@click.option("--overwrite", is_flag=True, help="Replace outputs that exist.")
@verbosity
def compare(predicted, existing, output, bbox, bbox_crs, aoi, as_json, overwrite, **params):
    """What is new and what is gone: compare PREDICTED (the buildings geoseg found) with the
    buildings already mapped (--with), e.g. OpenStreetMap or last year's run.

    \b
    new      found, not in the existing layer
    missing  in the existing layer, not found (demolished, or missed): best_iou says how close
    matched  in both, with their iou and the existing building's fid

    Only the area both describe counts: the area PREDICTED was searched in (geoseg records
    it; else the extent of its buildings), within --bbox or --aoi. A building counts where a
    point inside it lies. Everything is compared in PREDICTED's CRS.

    \b
    geoseg compare buildings.gpkg --with osm_buildings.gpkg -o changes.gpkg
    geoseg compare buildings.gpkg --with cadastre.shp --match overlap -o changes.gpkg --osm new.geojson
    """
    from geoseg.changes.compare import compare as run

    settings = compare_settings(params, bbox=bbox, bbox_crs=bbox_crs, aoi=aoi)
    summary = run(predicted, existing, output, settings, overwrite)
    show_summary(summary, as_json, changes_line(summary))


@cli.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
def info(path, as_json):
    """Say what PATH, a file geoseg wrote (buildings, changes, probability raster), holds and
    where it came from: geoseg's version, the model and a digest of its weights, the threshold
    and shaping options, the source scene, its imagery date, and the area searched.

    \b
    geoseg info buildings.gpkg
    """
    from geoseg.write.info import output_info

    found = output_info(path)
    if as_json:
        click.echo(json.dumps(found, default=str))
        return
    counts = found.get("features")
    click.echo(f"{found['path']}: {found['kind']}, CRS {found['crs'] or 'none'}, "
               + (", ".join(f"{layer}: {n} features" for layer, n in counts.items()) if counts is not None else
                  f"{found['width']}x{found['height']} px, {found['bands']} band(s)"))
    provenance = found["provenance"]
    if not provenance:
        click.echo("no geoseg provenance: this file was not written by geoseg (or by a version before 0.2)")
        return
    for key, value in provenance.items():
        if value is not None:
            click.echo(f"  {key:<17} {json.dumps(value) if isinstance(value, dict) else value}")


@cli.command()
@click.argument("input_dir", metavar="INPUT", type=click.Path(path_type=str))
@click.option("-o", "--output", "output_dir", required=True, help="Output folder: one vector file per input, mirroring INPUT's subfolders (or by file name for a list).")
@click.option("--format", "vector_format", type=click.Choice(sorted(VECTOR_FORMATS)), default="gpkg", show_default=True, help="Format of the per-input outputs.")
@click.option("--pattern", default="*.tif", show_default=True, help="Which files to take (glob).")
@click.option("-r", "--recursive", is_flag=True, help="Look in subfolders too.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Local worker processes (the cores are shared between them; on a machine with several GPUs each process gets its own, in turn, unless --device says otherwise).")
@click.option("--dask-scheduler", metavar="ADDRESS", help="Run on a dask.distributed cluster, e.g. tcp://host:8786; OUTPUT_DIR must be shared with the workers.")
@click.option("--dask-resource", "dask_resources", multiple=True, callback=_dask_resources, metavar="NAME=COUNT", help="With --dask-scheduler: what each scene's task asks of a worker (repeatable), e.g. GPU=1 with workers started as 'dask worker ... --resources GPU=1'.")
@click.option("--merge", type=click.Path(dir_okay=False), help="Also write one layer for the whole folder, buildings across tile borders joined.")
@click.option("--raster", metavar="NAME", help="Also write each input's building probability, named from this pattern ({stem}: the input's name without extension), e.g. '{stem}_prob.tif', beside its output.")
@click.option("--raster-format", type=click.Choice(RASTER_FORMATS), help="Format of --raster, as for predict.")
@click.option("--preview", metavar="NAME", help="Also write a PNG quick-look per input, named from this pattern, e.g. '{stem}.png'.")
@click.option("--co", "creation_options", multiple=True, callback=_creation_options, metavar="KEY=VAL", help="GDAL creation option for the GeoTIFF of --raster (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace outputs that this batch did not write (without it such a file fails, and is left alone).")
@click.option("--wait", is_flag=True, help="If another run holds OUTPUT_DIR, wait for it instead of exiting.")
@click.option("--log", "log_file", type=click.Path(dir_okay=False), help="Append one JSON line per file and the summary to this file.")
@inference_options
def batch(input_dir, output_dir, vector_format, pattern, recursive, workers, dask_scheduler, dask_resources, merge, raster,
          raster_format, preview, creation_options, overwrite, wait, log_file, progress_mode, as_json, **params):
    """Process every new or changed scene in INPUT; safe to run from cron.

    INPUT is a folder of scenes (see --pattern, --recursive), or a text file that lists
    scenes, one local path or URL per line (https://..., /vsis3/..., /vsigs/...; blank
    lines and # comments are skipped). Remote scenes are read with range requests.

    Finished inputs are remembered (OUTPUT_DIR/.geoseg-batch.sqlite) and skipped while
    unchanged and processed with the same model and settings; a killed run resumes where it
    stopped. A second run on the same OUTPUT_DIR exits at once (code 0) while the first is
    alive, or waits for it with --wait. A bad file is recorded as failed and the rest go on;
    the exit code is 1 if any failed.
    """
    from pathlib import Path

    from geoseg.batch.jobs import Busy, Outputs, result_line, run_batch

    options = predict_options(params)
    quiet = said("quiet")
    try:
        outputs = Outputs(vector_format, raster, preview, creation_options, overwrite, raster_format)
    except GeosegError as exc:
        raise click.UsageError(str(exc)) from None
    log = open(log_file, "a") if log_file else None
    bar = None
    count = {"done": 0, "total": 0}

    def emit(**fields) -> None:
        percent = int(100 * count["done"] / count["total"]) if count["total"] else 100
        click.echo(json.dumps({"stage": "files", **count, "percent": percent, **fields}), err=True)

    def on_wait(pid: int) -> None:
        if not quiet:
            click.echo(f"geoseg: waiting for another batch run (pid {pid}) to finish with {output_dir}", err=True)

    def on_start(total: int) -> None:
        nonlocal bar
        count["total"] = total
        if progress_mode == "json":
            emit()
        elif progress_mode == "bar" or (progress_mode == "auto" and not quiet and sys.stderr.isatty()):
            from tqdm import tqdm

            bar = tqdm(total=total, desc="Scenes", unit="file")

    def on_result(result) -> None:
        count["done"] += 1
        if log:
            print(result_line(result), file=log, flush=True)
        if bar is not None:
            bar.update(1)
        elif progress_mode == "json":
            emit(file=result.relative, status=result.status, error=result.error)
        if result.status == "failed" and not quiet:
            click.echo(f"geoseg: {result.relative}: failed: {result.error}", err=True)

    try:
        summary = run_batch(Path(input_dir), Path(output_dir), options, outputs, pattern=pattern, recursive=recursive,
                            workers=workers, dask_scheduler=dask_scheduler, dask_resources=dask_resources,
                            merge=Path(merge) if merge else None,
                            wait=wait, on_wait=on_wait, on_start=on_start, on_result=on_result)
    except Busy as busy:
        click.echo(f"geoseg: another batch run (pid {busy.pid}) is working on {output_dir}; exiting", err=True)
        return
    finally:
        if bar is not None:
            bar.close()
    if log:
        print(json.dumps({"summary": summary}), file=log, flush=True)
        log.close()
    show_summary(summary, as_json,
                 f"{summary['done']} done, {summary['skipped']} skipped, {summary['failed']} failed "
                 f"of {summary['inputs']} ({summary['megapixels']:.1f} MP, {summary['megapixels_per_second']:.2f} MP/s)"
                 + (f"; merged {counted(summary['merged_buildings'], 'building')} -> {summary['merged']}" if merge else ""))
    if summary["failed"]:
        sys.exit(EXIT_FAILED)


def _terminate(signum, frame):
    raise KeyboardInterrupt


def _exit_now(code: int) -> None:
    """Exit without waiting for worker threads still finishing a step nobody wants: their
    outputs were removed on the way here, and they hold nothing else."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    """Entry point: one line per failure, exit 1 (failed), 2 (usage) or 130 (interrupted)."""
    signal.signal(signal.SIGTERM, _terminate)
    verbose = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]
    # GDAL's messages reach Python logging inside rasterio.Env and GDAL's own handler
    # outside it; the user sees them only with --verbose.
    logging.basicConfig(level=logging.INFO if verbose else logging.CRITICAL, format="geoseg: %(name)s: %(message)s")
    if not verbose:
        os.environ.setdefault("CPL_LOG", os.devnull)
        warnings.simplefilter("ignore")  # library deprecation chatter is for developers
        for name in ("torch", "torch.utils.cpp_extension"):  # the compiler's notes about CUDA and caches
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("geoseg: interrupted; no output was written", err=True)
        _exit_now(EXIT_INTERRUPTED)
    except GeosegError as exc:
        click.echo(f"geoseg: error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # a bug or an environment failure: one line unless --verbose
        if verbose:
            traceback.print_exc()
        click.echo(f"geoseg: error: {type(exc).__name__}: {exc} (run with --verbose for details)", err=True)
        sys.exit(EXIT_FAILED)


@cli.command()
@click.argument("config", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--data", multiple=True, help="Training folder (images/ + masks/, or scenes with footprints beside them); "
              "repeatable. Default: the config's.")
@click.option("--init", "init", metavar="MODEL",
              help="Start from this trained model (a name from 'geoseg models' or a .safetensors file): fine-tuning "
                   "keeps its normalisation and pixel size. Without CONFIG: 10 short epochs at a low learning rate.")
@click.option("-o", "--output", default="model.safetensors", show_default=True, help="Where the best model goes.")
@click.option("--epochs", type=click.IntRange(min=1), help="Override the config's number of epochs.")
@click.option("--resume", type=click.Path(exists=True, dir_okay=False), help="Continue from a .ckpt file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Replace a key of CONFIG (the value read as YAML), e.g. --set style_transfer=0.5; repeatable. A resumed run needs the same --set.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
@verbosity
def train(config, data, init, output, epochs, resume, overrides, device):
    """Train the model a CONFIG (YAML) describes, or fine-tune a trained one (--init) on your own
    --data; keep the best epoch by validation IoU (every epoch when there is no validation split).

    \b
    geoseg train configs/eunet-mobilenetv2-buildings.yaml -o model.safetensors
    geoseg train configs/eunet-mobilenetv2-allplaces.yaml --set cutmix=0.5 -o cutmix.safetensors
    geoseg train --init eunet-mobilenetv2-buildings --data my_scenes/ -o mine.safetensors
    """
    from pathlib import Path

    from geoseg.infer.predictor import choose_device
    from geoseg.train.config import fine_tune_config, load_config, parse_overrides
    from geoseg.train.loop import train as run

    if config is None:
        if not (init and data):
            raise click.UsageError("give a CONFIG, or --init MODEL with --data FOLDER to fine-tune")
        if overrides:
            raise click.UsageError("--set changes a CONFIG's keys; give a CONFIG")
        cfg = fine_tune_config(init, list(data))
    else:
        try:
            cfg = load_config(config, list(data) or None, parse_overrides(list(overrides)))
        except GeosegError as exc:
            raise click.UsageError(str(exc)) from None
        cfg.init = init or cfg.init
    result = run(cfg, Path(output), Path(resume) if resume else None, str(choose_device(device)), epochs,
                 log=(lambda line: None) if said("quiet") else (lambda line: click.echo(line, err=True)))
    click.echo(json.dumps(result))


@cli.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(), help="The packed folder to create (it must not exist).")
@click.option("--unlabelled", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="A folder of imagery without labels, for distillation; repeatable.")
@click.option("--gsd", "gsd_m", type=click.FloatRange(min=0, min_open=True), metavar="METRES",
              help="Shrink images with finer pixels to this size (a config's gsd_m). Default: keep every pixel.")
@click.option("--quality", type=click.IntRange(50, 100), default=95, show_default=True, help="JPEG quality of the images.")
@verbosity
def pack(folders, output, unlabelled, gsd_m, quality):
    """Pack training FOLDERS (any layout 'geoseg train' reads; their train, val and test splits)
    into one small folder of JPEG images, PNG labels and an index, to carry training to another
    machine. A config then lists the packed folder under data (and under unlabelled, for
    --unlabelled imagery).

    \b
    geoseg pack data/buildings-train data/buildings-more --unlabelled data/scenes --gsd 0.5 -o packed/
    """
    from pathlib import Path

    from tqdm import tqdm

    from geoseg.train.layouts import read_dataset, unlabelled_images
    from geoseg.train.packed import UNLABELLED, Packing, new_folder
    from geoseg.train.packed import pack as write_pack

    new_folder(output)  # before the long read
    samples = [(split, s) for folder in folders for split in ("train", "val", "test") for s in read_dataset(folder, split)]
    samples += [(UNLABELLED, s) for folder in unlabelled for s in unlabelled_images(folder)]
    if not samples:
        raise click.UsageError(f"no samples in {', '.join(folders)}")
    shown = tqdm(samples, desc="Packing", unit="image", disable=said("quiet") or not sys.stderr.isatty())
    index = write_pack(shown, Path(output), Packing(gsd_m, quality))
    size = sum(f.stat().st_size for f in Path(output).rglob("*") if f.is_file())
    counts = {split: sum(e["split"] == split for e in index["samples"]) for split in ("train", "val", "test", UNLABELLED)}
    click.echo(json.dumps({"output": output, "bytes": size, **counts}))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model instead of a table.")
def models(as_json):
    """List the models: task, classes, size, cost at 512 x 512, whether weights ship, what each is for."""
    from geoseg.models import registry, stats

    rows = []
    for name, preset in registry.PRESETS.items():
        # a shipped model as it ships (its card may add outputs); the others as they would be built
        net, card = registry.load(name) if registry.shipped_weights(name) else (None, registry.preset_card(name))
        net = net or registry.build(card)
        rows.append({
            "name": name, "architecture": preset.architecture, "task": card.task,
            "classes": len(card.classes), "parameters": stats.parameters(net),
            "gflops_512": round(stats.gflops(net, 512), 2),
            "weights": registry.shipped_weights(name) is not None,
            "default": name == registry.DEFAULT_MODEL, "description": preset.description,
            "licence": card.licence if registry.shipped_weights(name) else None,
        })
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    width = max(len(r["name"]) for r in rows) + 2
    click.echo(f"{'name':<{width}} {'task':<11} {'classes':>7} {'params':>10} {'GFLOPs@512':>10}  {'weights':<25}  "
               "description")
    for r in rows:
        name = r["name"] + ("*" if r["default"] else "")
        weights = short_licence(r["licence"]) if r["weights"] else "no"
        click.echo(f"{name:<{width}} {r['task']:<11} {r['classes']:>7} {r['parameters']:>10,} "
                   f"{r['gflops_512']:>10.2f}  {weights:<25}  {r['description']}")
    click.echo("* the default model (--model omitted). weights: the licence of the shipped weights (the whole "
               "statement: geoseg models --json, or geoseg/weights/README.md)")


def short_licence(licence: str) -> str:
    """A shipped model's licence statement up to its explanation: 'CC BY-SA 4.0 (weights ...)' -> 'CC BY-SA 4.0'."""
    return licence.split(" (")[0].split(";")[0].split(",")[0].strip() or "yes (no licence stated)"


@cli.command()
@click.argument("model")
@click.option("-o", "--output", required=True, help="The file to write: .onnx, or .safetensors (a smaller copy, see --half).")
@click.option("--half", is_flag=True, help="With a .safetensors output: store the weights in fp16 (half the size; "
              "they are brought back to fp32 when loaded). geoseg's shipped weights are made this way.")
@click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
def export(model, output, half, overwrite):
    """Export MODEL (name or weights file) to ONNX, with its card in the metadata, or copy it to
    a .safetensors file (with --half, in fp16).

    The ONNX model takes any batch size and any tile size that is a multiple of the
    network's stride (geoseg pads tiles for you when it runs the file).
    """
    import torch

    from geoseg.models import io, registry
    from geoseg.models.onnx import export as run

    net, card = registry.load(model)
    if output.endswith(".safetensors"):
        io.save(net, card, output, overwrite=overwrite, dtype=torch.float16 if half else None)
    elif half:
        raise click.UsageError("--half goes with a .safetensors output")
    else:
        run(net, card, output, overwrite=overwrite)
    click.echo(f"{card.name} -> {output}")


@cli.command()
@click.argument("pred", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--truth", type=click.Path(exists=True, dir_okay=False), help="Reference buildings for PRED: raster mask or vector file.")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5, show_default=True, help="Cut for probability rasters (fraction of full scale).")
@click.option("--min-iou", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True, help="IoU for an object match (SpaceNet: 0.5).")
@click.option("--model", help="Score this model (a name from `geoseg models` or a weights file) on --data instead of a PRED file.")
@click.option("--data", multiple=True, type=click.Path(exists=True, file_okay=False), help="Dataset folder in a training layout (images/ + masks/, scenes + footprints, CamVid, Cityscapes); repeatable.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True, help="Which images of --data.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True, help="Where --model runs.")
@click.option("--record", is_flag=True, help="Write the scores into the model card of --model (a weights file), replacing its metrics.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as one JSON line.")
def evaluate(pred, truth, threshold, min_iou, model, data, split, device, record, as_json):
    """Score PRED (raster or vector buildings) against --truth, or a --model on a --data split.

    With PRED: pixel IoU, F1, precision, recall, and object F1 with one-to-one matches at
    IoU >= --min-iou, on one grid (vector files are rasterised onto the raster's grid).

    With --model and --data: each image of the split whole, as training validates. A
    multiclass model gets the mean IoU over its classes (its ignored class left out) and the
    IoU of each; a building model gets pixel and object scores, overall and per place.

    \b
    geoseg evaluate buildings.gpkg --truth reference_mask.tif
    geoseg evaluate --model enet-camvid --data CamVid/ --split test --json
    """
    if pred is not None:
        if truth is None or model or data or record:
            raise click.UsageError("PRED goes with --truth, not with --model/--data")
        from geoseg.evaluate.truth import evaluate as run

        scores = run(pred, truth, threshold, min_iou)
    else:
        if not (model and data) or truth:
            raise click.UsageError("give PRED with --truth, or --model with --data")
        if record and not model.endswith(".safetensors"):
            raise click.UsageError("--record writes into a weights file: give --model as a .safetensors file")
        from geoseg.infer.predictor import choose_device
        from geoseg.train.scoring import record_scores, score_dataset

        scores = score_dataset(model, list(data), split, str(choose_device(device)))
        if record:
            record_scores(model, scores)
    if as_json:
        click.echo(json.dumps(scores))
        return
    for key, value in scores.items():
        click.echo(f"{key:<18} {value:.4f}" if isinstance(value, float) else f"{key:<18} {value}")
