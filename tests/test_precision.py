"""Reduced precision: as accurate as fp32 on real data, and refused cleanly where unsupported."""

import numpy as np
import pytest
import rasterio
import torch
from conftest import DEMO_SCENE, SHARED

from geoseg.errors import GeosegError
from geoseg.evaluate.metrics import PixelCounts
from geoseg.infer import predictor as inference
from geoseg.options import PredictOptions
from geoseg.pipeline import predict

RIO_VAL = SHARED / "buildings-train" / "images" / "rio_img64.tif"
RIO_VAL_MASK = SHARED / "buildings-train" / "masks" / "rio_img64.tif"


def _mask(tmp_path, scene, precision):
    predict(scene, tmp_path / f"{precision}.gpkg", raster=tmp_path / f"{precision}.tif", options=PredictOptions(precision=precision))
    with rasterio.open(tmp_path / f"{precision}.tif") as src:
        return src.read(1) >= 128, src.read_masks(1) > 0


@pytest.mark.skipif(not inference.reduced_precision_ok(torch.device("cpu"), "bf16"), reason="this CPU has no bf16 units")
def test_bf16_agrees_with_fp32_on_the_real_scene(tmp_path):
    # About 2 % of the building pixels flip near the threshold on this scene (measured 0.979);
    # against real footprints the two score the same (next test, and docs/performance.md).
    fp32, valid = _mask(tmp_path, DEMO_SCENE, "fp32")
    bf16, _ = _mask(tmp_path, DEMO_SCENE, "bf16")
    assert PixelCounts().add(bf16, fp32, valid).scores()["iou"] >= 0.95


@pytest.mark.skipif(not RIO_VAL.exists(), reason="../shared/data is not beside the checkout")
@pytest.mark.skipif(not inference.reduced_precision_ok(torch.device("cpu"), "bf16"), reason="this CPU has no bf16 units")
def test_bf16_keeps_pixel_iou_against_the_truth_within_half_a_point(tmp_path):
    with rasterio.open(RIO_VAL_MASK) as src:
        truth = src.read(1) > 127
    scores = {}
    for precision in ("fp32", "bf16"):
        pred, valid = _mask(tmp_path, RIO_VAL, precision)
        scores[precision] = PixelCounts().add(pred, truth, valid).scores()["iou"]
    assert abs(scores["bf16"] - scores["fp32"]) <= 0.005


def test_unsupported_precision_is_refused_in_one_line():
    with pytest.raises(GeosegError, match="not supported on cpu"):
        inference.load_predictor("eunet-buildings", "cpu", precision="fp16")


def test_auto_precision_falls_back_to_fp32_without_bf16_units(monkeypatch):
    monkeypatch.setattr(inference, "_cpu_flags", lambda: {"avx2"})
    assert inference.default_precision(torch.device("cpu")) == "fp32"
    assert inference.load_predictor("eunet-buildings", "cpu").device == "cpu"
    monkeypatch.setattr(inference, "_cpu_flags", lambda: {"avx512f", "amx_bf16"})
    assert inference.default_precision(torch.device("cpu")) == "bf16"


def test_compiled_network_matches_eager_is_reused_from_the_cache_and_pads_short_batches(tmp_path, monkeypatch):
    from geoseg.models import registry

    monkeypatch.setenv("GEOSEG_CACHE", str(tmp_path))
    net, card = registry.load("eunet-buildings")
    x = np.random.default_rng(0).integers(0, 256, (3, 3, 64, 96), dtype=np.uint8)  # stretched tiles
    eager = inference.TorchBackend(net, card, torch.device("cpu"), "fp32")(x)
    compiled = inference.TorchBackend(net, card, torch.device("cpu"), "fp32", compile=True, batch_size=4)
    got = compiled(x)  # 3 tiles in a batch of 4: padded, then cut back
    assert got.shape == eager.shape and compiled.compiled
    assert np.abs(got.astype(int) - eager).max() <= 1  # bytes: at most one step of rounding apart
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".ok", ".pt2"]  # the package, proven in a child

    reused = inference.TorchBackend(net, card, torch.device("cpu"), "fp32", compile=True, batch_size=4)
    assert np.array_equal(reused(x), got) and reused.compiled


def test_failed_compile_falls_back_to_the_eager_network(tmp_path, monkeypatch):
    from geoseg.models import registry

    def no_compiler(program, package_path):
        open(package_path, "wb").write(b"half a package")
        raise RuntimeError("no C++ compiler")

    monkeypatch.setenv("GEOSEG_CACHE", str(tmp_path))
    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", no_compiler)
    net, card = registry.load("enet-buildings")
    x = np.random.default_rng(1).integers(0, 256, (1, 3, 32, 32), dtype=np.uint8)
    backend = inference.TorchBackend(net, card, torch.device("cpu"), "fp32", compile=True, batch_size=2)
    out = backend(x)
    eager = inference.TorchBackend(net, card, torch.device("cpu"), "fp32")(x)
    assert not backend.compiled and np.array_equal(out, eager)
    assert list(tmp_path.iterdir()) == []  # the half-written package is gone


def test_an_untrained_model_is_refused_with_the_command_that_trains_it():
    with pytest.raises(GeosegError, match=r"enet-buildings has no trained weights.*geoseg train configs/enet-buildings.yaml"):
        inference.load_predictor("enet-buildings", "cpu")


def test_a_package_that_crashes_its_trial_is_never_loaded_here(tmp_path, monkeypatch):
    """A compiled package is native code: one that kills the process that loads it (as on CUDA
    with PyTorch 2.11) must die in the child that proves it, not in the user's run."""
    from geoseg.infer import compiled
    from geoseg.infer.folding import fold_batch_norms
    from geoseg.models import registry

    monkeypatch.setenv("GEOSEG_CACHE", str(tmp_path))
    net, card = registry.load("eunet-buildings")
    x = np.zeros((2, 3, 32, 32), dtype=np.uint8)
    example = torch.zeros(x.shape).contiguous(memory_format=torch.channels_last)  # as normalised for the network
    package = compiled.package_path(fold_batch_norms(net), card, example)  # the network as the backend runs it
    package.write_bytes(b"\x7fELF not really a package")  # as if a compile had left a broken one
    loaded = []
    monkeypatch.setattr(compiled, "load", lambda path: loaded.append(path))
    backend = inference.TorchBackend(net, card, torch.device("cpu"), "fp32", compile=True, batch_size=2)
    out = backend(x)
    assert not backend.compiled and loaded == []  # eager, and the package never entered this process
    assert compiled.verdict_path(package, False).read_text().startswith("exit 1")
    again = inference.TorchBackend(net, card, torch.device("cpu"), "fp32", compile=True, batch_size=2)
    assert np.array_equal(again(x), out) and loaded == []  # the verdict is remembered: no second trial


def test_auto_compiles_only_on_the_cpu():
    from geoseg.pipeline import COMPILE_MIN_MEGAPIXELS, wants_compile

    big = COMPILE_MIN_MEGAPIXELS + 1
    assert wants_compile("auto", big, "cpu") and not wants_compile("auto", big - 2, "cpu")
    assert not wants_compile("auto", big, "cuda") and not wants_compile("auto", big, "mps")
    assert wants_compile("yes", 1, "cuda") and not wants_compile("no", big, "cpu")
