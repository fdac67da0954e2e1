"""The ``geoseg`` command as a user runs it: a real process, the shipped model, a real scene."""

import json
import subprocess
import sys

import pyogrio
import pytest
import rasterio
from PIL import Image
from rasterio.crs import CRS

from conftest import DEMO_SCENE
from geoseg.models.registry import DEFAULT_MODEL


def geoseg(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "geoseg", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_predict_on_the_shipped_real_scene(tmp_path):
    out, prob, png = tmp_path / "b.gpkg", tmp_path / "p.tif", tmp_path / "p.png"
    run = geoseg("predict", DEMO_SCENE, "-o", out, "--raster", prob, "--preview", png, "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    frame = pyogrio.read_dataframe(out)
    assert summary["buildings"] == len(frame)
    assert summary["device"].startswith("cpu") and summary["model"] == DEFAULT_MODEL
    assert CRS.from_user_input(frame.crs) == CRS.from_epsg(4326)
    assert summary["resampled"] and summary["gsd_m"] == pytest.approx(0.5, abs=0.005)  # the scene has 0.28 m pixels
    with rasterio.open(prob) as p, rasterio.open(DEMO_SCENE) as s:
        assert p.crs == s.crs and p.shape == (361, 361)  # 650 px x 0.2775 m / 0.5 m, on the model's grid
        assert p.bounds == pytest.approx(s.bounds, abs=1e-9)
        assert len(frame) >= 15  # houses, halls and flat roofs: 20 when written
        minx, miny, maxx, maxy = frame.total_bounds
        assert s.bounds.left <= minx and maxx <= s.bounds.right
        assert s.bounds.bottom <= miny and maxy <= s.bounds.top
    assert Image.open(png).size == (650, 650)
    assert run.stderr == ""  # not a terminal: no progress bars


def test_summary_line_says_the_pixel_size_the_model_saw(tmp_path):
    resampled = geoseg("predict", DEMO_SCENE, "-o", tmp_path / "a.gpkg")
    native = geoseg("predict", DEMO_SCENE, "-o", tmp_path / "b.gpkg", "--gsd", "native")
    assert resampled.returncode == native.returncode == 0
    assert "(650x650 px, seen at 0.50 m," in resampled.stdout
    assert "(650x650 px, " in native.stdout and "seen at" not in native.stdout


def test_json_progress_lines_for_programs(tmp_path):
    run = geoseg("predict", DEMO_SCENE, "-o", tmp_path / "b.gpkg", "--progress", "json", "--tile-size", "256",
                 "--gsd", "native")
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines()]
    infer = [line for line in lines if line["stage"] == "infer"]
    assert infer[-1]["percent"] == 100 and infer[-1]["done"] == infer[-1]["total"] == 16


@pytest.mark.parametrize("args,needle", [
    (["--tile-size", "0"], "--tile-size"),
    (["--tile-size", "64", "--overlap", "64"], "--overlap"),
    (["--threshold", "1.5"], "--threshold"),
    (["--batch-size", "0"], "--batch-size"),
    (["--bands", "a,b"], "--bands"),
    (["--gsd", "0"], "--gsd"),
    (["--gsd", "fine"], "--gsd"),
    (["--bbox", "1,2,3"], "--bbox"),
    (["--bbox-crs", "EPSG:4326"], "--bbox-crs goes with --bbox"),
    (["--bbox", "0,0,1,1", "--aoi", "a.gpkg"], "not both"),
])
def test_bad_options_are_usage_errors_naming_the_option(tmp_path, args, needle):
    run = geoseg("predict", DEMO_SCENE, "-o", tmp_path / "b.gpkg", *args)
    assert run.returncode == 2
    assert needle in run.stderr
    assert "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make,needle", [
    (lambda d: d / "missing.tif", "does not exist"),
    (lambda d: d, "is a directory"),
    (lambda d: (d / "notes.tif").write_text("hello") and d / "notes.tif", "not a raster"),
    (lambda d: (d / "empty.tif").write_bytes(b"") or d / "empty.tif", "empty file"),
])
def test_bad_scenes_get_one_line_and_exit_1(tmp_path, make, needle):
    scene = make(tmp_path)
    out = tmp_path / "b.gpkg"
    run = geoseg("predict", scene, "-o", out)
    assert run.returncode == 1
    assert needle in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_and_verbose_go_before_or_after_the_command(tmp_path, where):
    args = ["predict", DEMO_SCENE, "-o", tmp_path / "b.gpkg", "--overwrite", "--model", "eunet-buildings"]
    quiet = geoseg(*(["-q", *args] if where == "before" else [*args, "-q"]))
    assert quiet.returncode == 0 and quiet.stdout == "" and (tmp_path / "b.gpkg").exists()
    verbose = geoseg(*(["-v", *args] if where == "before" else [*args, "-v"]))
    assert verbose.returncode == 0 and "buildings ->" in verbose.stdout
    assert json.loads(verbose.stderr[verbose.stderr.index("{"):])["model"] == "eunet-buildings"


def test_a_photo_through_a_street_scene_model_without_polygons(tmp_path):
    photo = tmp_path / "street.jpg"
    Image.new("RGB", (240, 180), (90, 120, 200)).save(photo)
    run = geoseg("predict", photo, "--model", "enet-camvid", "--raster", tmp_path / "classes.png",
                 "--preview", tmp_path / "view.png", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "classes.png" in run.stdout and "in pixel coordinates" in run.stdout
    classes = Image.open(tmp_path / "classes.png")
    assert classes.mode == "P" and classes.size == (240, 180)
    assert Image.open(tmp_path / "view.png").size == (240, 180)


def test_predict_with_nothing_to_write_is_a_usage_error(tmp_path):
    run = geoseg("predict", DEMO_SCENE)
    assert run.returncode == 2 and "nothing to write" in run.stderr


def test_help_explains_the_options():
    run = geoseg("predict", "--help")
    assert run.returncode == 0
    for option in ("--output", "--raster", "--model", "--tile-size", "--overlap", "--threshold", "--bands", "--overwrite",
                   "--bbox", "--aoi", "--separate / --no-separate", "--quiet", "--verbose"):
        assert option in run.stdout


def test_export_a_half_precision_copy(tmp_path):
    from geoseg.models import io, registry

    run = geoseg("export", "eunet-buildings", "-o", tmp_path / "half.safetensors", "--half")
    assert run.returncode == 0, run.stderr
    state, card = io.load_state(tmp_path / "half.safetensors")
    shipped = registry.shipped_weights("eunet-buildings")
    assert card == io.read_card(shipped)
    assert state["classifier.weight"].dtype.itemsize == 2
    assert (tmp_path / "half.safetensors").stat().st_size < 0.6 * shipped.stat().st_size
    refused = geoseg("export", "eunet-buildings", "-o", tmp_path / "m.onnx", "--half")
    assert refused.returncode == 2 and "--half goes with a .safetensors output" in refused.stderr


def test_models_lists_the_default_with_its_weights():
    run = geoseg("models", "--json")
    assert run.returncode == 0, run.stderr
    rows = {r["name"]: r for r in map(json.loads, run.stdout.splitlines())}
    default = rows[DEFAULT_MODEL]
    assert default["default"] and default["weights"] and sum(r["default"] for r in rows.values()) == 1
    assert default["parameters"] == 2_533_098  # as shipped: with its separation output
    assert not rows["enet-buildings"]["weights"] and rows["enet-camvid"]["classes"] == 12


def test_summary_lines_count_in_the_right_number():
    from geoseg.cli import counted

    assert [counted(n, "building") for n in (0, 1, 2)] == ["0 buildings", "1 building", "2 buildings"]
    assert counted(1, "class region") == "1 class region" and counted(3, "class region") == "3 class regions"
