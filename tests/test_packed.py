"""Packed training data (geoseg pack) and windows cut in worker processes."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from geoseg.cli import cli
from geoseg.errors import GeosegError
from geoseg.train.data import Sample, WindowSampler, WindowSettings, window_batches
from geoseg.train.layouts import read_dataset, unlabelled_images
from geoseg.train.packed import Packing, pack
from geoseg.train.separation import BUILDING, SEPARATION


def fine_pairs(root, size=200):
    """Two 0.25 m images (one train, one val) with two buildings 0.25 m apart, and a folder of
    one unlabelled image."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = ["name,split,source,gsd_m"]
    for name, split in (("a", "train"), ("b", "val")):
        image = np.full((size, size, 3), 40, np.uint8)
        mask = np.zeros((size, size), np.uint8)
        image[40:120, 40:99] = image[40:120, 100:160] = 220
        mask[40:120, 40:99] = mask[40:120, 100:160] = 255  # one column apart: a separation between them
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        Image.fromarray(mask).save(root / "masks" / f"{name}.png")
        rows.append(f"{name},{split},aerial,0.25")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    unlabelled = root.parent / "unlabelled"
    unlabelled.mkdir()
    Image.fromarray(np.full((64, 48, 3), 99, np.uint8)).save(unlabelled / "u.png")
    return root, unlabelled


def test_a_packed_folder_holds_the_samples_at_the_pixel_size_asked(tmp_path):
    data, unlabelled = fine_pairs(tmp_path / "d")
    out = tmp_path / "packed"
    samples = [(split, s) for split in ("train", "val") for s in read_dataset(data, split)]
    index = pack(samples + [("unlabelled", s) for s in unlabelled_images(unlabelled)], out, Packing(gsd_m=0.5))
    assert [(e["name"], e["split"]) for e in index["samples"]] == [("a", "train"), ("b", "val"), ("u", "unlabelled")]
    (train,), (val,) = read_dataset(out, "train"), read_dataset(out, "val")
    original = read_dataset(data, "train")[0]
    image, label, valid = train.data()
    assert image.shape == (100, 100, 3) and train.gsd_m == pytest.approx(0.5)  # halved, at 0.5 m
    assert (train.source, train.place, train.labelled) == (original.source, original.place, True)
    assert val.labelled and val.place == read_dataset(data, "val")[0].place
    assert ((label & BUILDING) > 0).sum() == pytest.approx(((original.label & BUILDING) > 0).sum() / 4, rel=0.05)
    assert (label & SEPARATION).any()  # the flags made at 0.25 m survive the shrinking
    assert valid.all() and image[30, 30].min() >= 250 and image[5, 5].max() <= 5  # stretched roofs and ground, through JPEG
    (u,) = unlabelled_images(out)
    assert not u.labelled and u.image.shape == (64, 48, 3) and u.gsd_m is None  # unknown pixel size: as it is
    with pytest.raises(GeosegError, match="already exists"):
        pack(samples, out, Packing())


def test_invalid_pixels_travel_with_the_pack(tmp_path):
    image = np.full((32, 32, 3), 128, np.uint8)
    valid = np.ones((32, 32), bool)
    valid[:, :10] = False
    sample = Sample("s", lambda: (image, np.zeros((32, 32), np.uint8), valid), source="x", gsd_m=0.5)
    pack([("train", sample)], tmp_path / "p", Packing(gsd_m=0.5))
    (back,) = read_dataset(tmp_path / "p", "train")
    assert np.array_equal(back.valid, valid)


def test_geoseg_pack_reports_what_it_wrote(tmp_path):
    data, unlabelled = fine_pairs(tmp_path / "d")
    out = tmp_path / "packed"
    result = CliRunner().invoke(cli, ["pack", str(data), "--unlabelled", str(unlabelled), "--gsd", "0.5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert (report["train"], report["val"], report["test"], report["unlabelled"]) == (1, 1, 0, 1)
    assert report["bytes"] > 1000 and (out / "packed.json").is_file()
    again = CliRunner().invoke(cli, ["pack", str(data), "-o", str(out)])
    assert isinstance(again.exception, GeosegError) and "already exists" in str(again.exception)


def striped_sample() -> Sample:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
    label = (np.arange(96)[None, :] % 8 < 4).astype(np.uint8).repeat(96, axis=0)
    return Sample("s", lambda: (image, label, np.ones((96, 96), bool)), source="x")


def test_windows_from_worker_processes_are_batches_of_their_own():
    settings = WindowSettings(32, hue=0.0, grayscale=0.0)
    images, labels, valid, labelled = next(window_batches([striped_sample()], settings, seed=0, n=4, workers=2))
    assert tuple(images.shape) == (4, 32, 32, 3) and tuple(labels.shape) == (4, 32, 32)
    assert valid.all() and labelled.all()
    stream = window_batches([striped_sample()], settings, seed=0, n=4, workers=2)
    first, second = next(stream), next(stream)  # one from each worker: seeded apart
    assert not np.array_equal(np.asarray(first[0]), np.asarray(second[0]))


def test_without_workers_the_batches_are_the_samplers():
    settings = WindowSettings(32, hue=0.0, grayscale=0.0)
    batch = next(window_batches([striped_sample()], settings, seed=3, n=2))
    expected = WindowSampler([striped_sample()], settings, seed=3).batch(2)
    assert all(np.array_equal(a, b) for a, b in zip(batch, expected))
