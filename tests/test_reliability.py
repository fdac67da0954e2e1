"""Bad input, hostile files and interruptions: one clear line, a non-zero exit, nothing lost."""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image

from conftest import rectangles_scene, write_scene
from geoseg.cli import main
from geoseg.models import io, registry


def run_cli(capsys, *args) -> tuple[int, str]:
    """Run ``geoseg ARGS`` in this process as the console script would; return (exit code, stderr)."""
    old = sys.argv
    sys.argv = ["geoseg", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = old
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, needle: str) -> None:
    assert code == 1, err
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.fixture
def scene(tmp_path):
    return write_scene(tmp_path / "scene.tif", rectangles_scene(64, 64, [(10, 10, 30, 30)]))


def _png(path):
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(path)
    return path


def _gtiff(path, dtype="uint8", count=3, crs="EPSG:32633", transform=Affine(1, 0, 0, 0, -1, 64)):
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=count, dtype=dtype, crs=crs,
                       transform=transform) as dst:
        dst.write(np.ones((count, 64, 64), dtype=dtype))
    return path


def _truncated(path):
    full = write_scene(path.with_name("full.tif"),
                       np.random.default_rng(0).integers(0, 255, (3, 600, 600), dtype=np.uint8))
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD_SCENES = [
    (_png, "not georeferenced"),
    (lambda p: _gtiff(p, crs=None), "no CRS"),
    (lambda p: _gtiff(p, transform=Affine(1, 0.2, 0, 0.1, -1, 64)), "rotated or skewed"),
    (lambda p: _gtiff(p, dtype="complex64"), "complex64 pixels"),
    (lambda p: _gtiff(p, dtype="int8"), "int8 pixels"),
    (lambda p: _gtiff(p, count=2), "--bands"),
    (_truncated, "truncated or corrupt"),
]


@pytest.mark.parametrize("make,needle", BAD_SCENES, ids=[n for _, n in BAD_SCENES])
def test_bad_scene(tmp_path, capsys, make, needle):
    path = make(tmp_path / ("in.png" if make is _png else "in.tif"))
    before = path.read_bytes()
    code, err = run_cli(capsys, "predict", path, "-o", tmp_path / "out.gpkg")
    assert_one_line(code, err, needle)
    assert not (tmp_path / "out.gpkg").exists() and not list(tmp_path.glob(".*"))
    assert path.read_bytes() == before


def test_bands_out_of_range(tmp_path, capsys, scene):
    code, err = run_cli(capsys, "predict", scene, "-o", tmp_path / "o.gpkg", "--bands", "1,2,7")
    assert_one_line(code, err, "--bands 7 is out of range")


def test_existing_output_needs_overwrite(tmp_path, capsys, scene):
    out = tmp_path / "o.gpkg"
    out.write_text("keep me")
    code, err = run_cli(capsys, "predict", scene, "-o", out)
    assert_one_line(code, err, "--overwrite")
    assert out.read_text() == "keep me"


def test_missing_output_folder(tmp_path, capsys, scene):
    code, err = run_cli(capsys, "predict", scene, "-o", tmp_path / "nope" / "o.gpkg")
    assert_one_line(code, err, "does not exist")


def test_output_equal_to_input_is_refused(tmp_path, capsys, scene):
    before = scene.read_bytes()
    code, err = run_cli(capsys, "predict", scene, "-o", tmp_path / "o.gpkg", "--raster", scene, "--overwrite")
    assert_one_line(code, err, "is the input scene")
    assert scene.read_bytes() == before


def test_unknown_vector_format(tmp_path, capsys, scene):
    code, err = run_cli(capsys, "predict", scene, "-o", tmp_path / "o.xyz")
    assert_one_line(code, err, "vector format")


def test_missing_model_file(tmp_path, capsys, scene):
    code, err = run_cli(capsys, "predict", scene, "-o", tmp_path / "o.gpkg", "--model", tmp_path / "m.safetensors")
    assert_one_line(code, err, "does not exist")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickled_model_is_never_executed(tmp_path, capsys, scene):
    marker = tmp_path / "pwned"
    model = tmp_path / "evil.safetensors"
    model.write_bytes(pickle.dumps(_Payload(str(marker))))
    code, err = run_cli(capsys, "predict", scene, "-o", tmp_path / "o.gpkg", "--model", model)
    assert_one_line(code, err, "not a geoseg model")
    assert not marker.exists()


def test_model_whose_bands_do_not_fit_the_scene(tmp_path, capsys, scene):
    card = registry.preset_card("enet-buildings")
    card.bands = ["red", "green", "blue", "nir"]
    card.trained = True  # a model file someone trained for four bands
    model = tmp_path / "rgbn.safetensors"
    io.save(registry.build(card), card, model)
    code, err = run_cli(capsys, "predict", scene, "-o", tmp_path / "o.gpkg", "--model", model)
    assert_one_line(code, err, "the model takes 4")


def test_disk_full_leaves_nothing_behind(tmp_path, scene):
    big = write_scene(tmp_path / "big.tif", np.random.default_rng(0).integers(0, 255, (3, 1000, 1000), dtype=np.uint8))
    out = tmp_path / "out"
    out.mkdir()

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    run = subprocess.run([sys.executable, "-m", "geoseg", "predict", big, "-o", out / "b.gpkg", "--raster", out / "p.tif",
                          "--model", "eunet-buildings"], capture_output=True, text=True, preexec_fn=small_disk, timeout=600)
    assert run.returncode == 1
    assert "could not write" in run.stderr.splitlines()[-1] and "Traceback" not in run.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_stops_promptly_and_cleans_up(tmp_path, sig):
    scene = write_scene(tmp_path / "s.tif", np.random.default_rng(0).integers(0, 255, (3, 2048, 2048), dtype=np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "geoseg", "predict", scene, "-o", out / "b.gpkg", "--raster",
                             out / "p.tif", "--progress", "json", "--tile-size", "128", "--overlap", "16"],
                            stderr=subprocess.PIPE, text=True)
    line = json.loads(proc.stderr.readline())  # inference has started
    assert line["stage"] == "infer" and line["percent"] < 100
    assert_stops_promptly(proc, sig, out)
    assert scene.exists()


def assert_stops_promptly(proc, sig, out) -> None:
    """``sig`` ends ``proc`` (a geoseg command) within 2 s, exit 130, saying so, with nothing in ``out``."""
    sent = time.monotonic()
    proc.send_signal(sig)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    assert time.monotonic() - sent < 2
    assert "interrupted" in rest.strip().splitlines()[-1]
    assert list(out.iterdir()) == []


# geoseg's main() with a stand-in model that calls bright pixels buildings, so that a ragged
# scene keeps the vectoriser busy while inference races ahead
BRIGHT_MAIN = """
import sys
sys.path.insert(0, {tests!r})
from conftest import BrightNet, predictor_for
import geoseg.pipeline
geoseg.pipeline.load_predictor = lambda **engine: predictor_for(BrightNet())
from geoseg.cli import main
sys.argv = ["geoseg", *sys.argv[1:]]
main()
"""


def ragged_scene(path, size: int):
    """Smooth noise of 16-pixel features thresholded at its median, with 5 % speckle: about half
    the scene in ragged bands, the kind of mask that used to make vectorising crawl."""
    rng = np.random.default_rng(1)
    coarse = rng.random((size // 16 + 2, size // 16 + 2)).astype(np.float32)
    field = np.array(Image.fromarray(coarse).resize((size + 32, size + 32), Image.BILINEAR))[:size, :size]
    bright = (field > 0.5) ^ (rng.random((size, size)) < 0.05)
    return write_scene(path, np.repeat(np.where(bright, 200, 40).astype(np.uint8)[None], 3, axis=0))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_while_vectorising_a_ragged_mask_ends_within_two_seconds(tmp_path, sig):
    scene = ragged_scene(tmp_path / "ragged.tif", 4000)
    out = tmp_path / "out"
    out.mkdir()
    tests = str(Path(__file__).parent)
    proc = subprocess.Popen([sys.executable, "-c", BRIGHT_MAIN.format(tests=tests), "predict", scene, "-o",
                             out / "b.gpkg", "--raster", out / "p.tif", "--progress", "json", "--gsd", "native"],
                            stderr=subprocess.PIPE, text=True)
    while True:  # until inference has run ahead of the vectoriser: the stitcher then waits for it
        line = json.loads(proc.stderr.readline())
        if line["stage"] == "infer" and line["percent"] >= 30:
            break
    time.sleep(1.0)
    assert_stops_promptly(proc, sig, out)
