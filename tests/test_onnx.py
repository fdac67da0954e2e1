"""ONNX export and the ONNX Runtime backend agree with PyTorch."""

import subprocess
import sys

import numpy as np
import onnx
import pyogrio
import pytest
import rasterio
import torch
from conftest import DEMO_SCENE, rectangles_scene, write_scene

from geoseg.errors import GeosegError
from geoseg.infer.predictor import OnnxBackend, load_predictor
from geoseg.models import registry
from geoseg.models.input import normalised
from geoseg.models.onnx import export
from geoseg.options import PredictOptions
from geoseg.pipeline import infer_scene, predict
from geoseg.read.resample import SceneView
from geoseg.read.scene import scene_scaling, select_bands
from geoseg.read.tiling import tile_grid


@pytest.fixture(scope="module")
def enet_onnx(tmp_path_factory):
    torch.manual_seed(0)
    card = registry.preset_card("enet-buildings")
    card.trained = True  # random weights, but the backends must agree on them all the same
    net = registry.build(card)
    path = tmp_path_factory.mktemp("onnx") / "enet.onnx"
    export(net, card, path)
    return net, card, path


def test_export_carries_the_card(enet_onnx):
    _, card, path = enet_onnx
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert registry.ModelCard.from_json(meta["geoseg.card"]) == card
    assert meta["geoseg.size_divisor"] == "8"


def test_onnx_runtime_matches_torch_at_odd_sizes_and_batches(enet_onnx):
    net, card, path = enet_onnx
    backend = OnnxBackend(path, torch.device("cpu"))
    x = np.random.default_rng(1).integers(0, 256, (3, 3, 75, 130), dtype=np.uint8)  # stretched tiles
    with torch.no_grad():
        expected = torch.sigmoid(net(normalised(torch.from_numpy(x), card.mean, card.std))).numpy() * 255
    got = backend(x)
    assert got.shape == expected.shape and got.dtype == np.uint8  # probabilities come back as bytes
    assert np.abs(got - expected).max() <= 0.5 + 0.3  # the byte's rounding, and 1e-3 between the runtimes


def test_stitched_scene_matches_between_backends(tmp_path, enet_onnx):
    net, card, path = enet_onnx
    # Textured like real imagery: on perfectly flat areas max-pool ties may pick other
    # indices in ONNX Runtime than in PyTorch, and ENet's unpooling would differ there.
    data = rectangles_scene(300, 260, [(40, 40, 120, 100), (200, 150, 260, 250)])
    data += np.random.default_rng(0).integers(0, 30, size=data.shape, dtype=np.uint8)
    scene = write_scene(tmp_path / "s.tif", data)
    from geoseg.infer.predictor import Predictor, TorchBackend

    predictors = [Predictor(TorchBackend(net, card, torch.device("cpu")), card, "cpu", "t"),
                  load_predictor(path)]
    results = []
    with rasterio.open(scene) as src:
        bands = select_bands(src, card)
        scaling = scene_scaling(src, bands, card)
        for predictor in predictors:
            out = np.zeros((300, 260), dtype=np.float32)

            def sink(y, stripe, out=out):
                out[y:y + stripe.shape[1]] = stripe[0]

            infer_scene(SceneView(scene), predictor, bands, scaling, tile_grid(300, 260, 128, 32), 2, sink)
            results.append(out)
    assert np.abs(results[0] - results[1]).max() <= 1.5  # blended bytes; each backend's bytes may round apart


def test_default_model_gives_the_same_buildings_on_both_backends(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOSEG_CACHE", str(tmp_path / "cache"))
    torch_run = predict(DEMO_SCENE, tmp_path / "t.gpkg", raster=tmp_path / "t.tif", options=PredictOptions(precision="fp32"))
    onnx_run = predict(DEMO_SCENE, tmp_path / "o.gpkg", raster=tmp_path / "o.tif", options=PredictOptions(backend="onnx"))
    assert "onnxruntime" in onnx_run["device"]
    with rasterio.open(tmp_path / "t.tif") as a, rasterio.open(tmp_path / "o.tif") as b:
        assert np.abs(a.read(1).astype(int) - b.read(1).astype(int)).max() <= 1
    t, o = pyogrio.read_dataframe(tmp_path / "t.gpkg"), pyogrio.read_dataframe(tmp_path / "o.gpkg")
    assert torch_run["buildings"] == onnx_run["buildings"] == len(t) == len(o)
    if len(t):
        diff = t.geometry.union_all().symmetric_difference(o.geometry.union_all()).area
        assert diff <= 0.01 * t.geometry.area.sum()


def test_a_broken_onnx_file_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(GeosegError, match="not an ONNX model"):
        load_predictor(bad)


def test_export_command_writes_a_model_predict_can_run(tmp_path):
    out = tmp_path / "m.onnx"
    run = subprocess.run([sys.executable, "-m", "geoseg", "export", "eunet-buildings", "-o", out],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert load_predictor(out).card.architecture == "eunet"
