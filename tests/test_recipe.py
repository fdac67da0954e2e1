"""The recipe levers of training (docs/models.md): what each does to windows and losses."""

import numpy as np
import pytest
import torch

from geoseg.train.appearance import colour_stats, cut_mixed, hazed, matched_colours, misregistered
from geoseg.train.data import Sample, WindowSampler, WindowSettings
from geoseg.train.losses import LossSettings, Targets, loss_fn

SIZE = 64


def flat(colour, place: str, building: bool = False) -> Sample:
    image = np.empty((SIZE, SIZE, 3), np.uint8)
    image[:] = colour
    image[::2, ::2] += 10  # some texture, so that a spread exists
    label = np.zeros((SIZE, SIZE), np.uint8)
    if building:
        label[16:48, 16:48] = 1
    return Sample(place, lambda: (image, label, np.ones((SIZE, SIZE), bool)), source=place, place=place)


def test_matched_colours_take_the_other_images_mean_and_spread():
    rng = np.random.default_rng(0)
    image = rng.normal((60, 90, 120), (5, 10, 15), (64, 64, 3)).clip(0, 255).astype(np.uint8)
    target = (np.array([150.0, 120, 80], np.float32), np.array([20.0, 10, 5], np.float32))
    moved = matched_colours(image, np.ones((64, 64), bool), target)
    mean, std = colour_stats(moved, np.ones((64, 64), bool), step=1)
    assert np.allclose(mean, target[0], atol=1.0) and np.allclose(std, target[1], rtol=0.1)


def test_haze_lifts_dark_pixels_and_a_misregistered_band_moves_alone():
    rng = np.random.default_rng(1)
    dark = np.zeros((32, 32, 3), np.uint8)
    assert hazed(dark, rng).min() >= 17  # at least 10 % of a grey of 170
    image = np.zeros((32, 32, 3), np.uint8)
    image[10:20, 10:20] = 255
    for _ in range(8):
        shifted = misregistered(image, rng)
        moved = [not np.array_equal(shifted[..., b], image[..., b]) for b in range(3)]
        assert sum(moved) <= 1  # one band at most (a zero shift leaves all three)


def test_style_transfer_recolours_windows_without_touching_labels():
    red, blue = flat((200, 40, 40), "a", building=True), flat((30, 40, 190), "b")
    plain = WindowSampler([red, blue], WindowSettings(SIZE, hue=0.0, grayscale=0.0), seed=3)
    styled = WindowSampler([red, blue], WindowSettings(SIZE, hue=0.0, grayscale=0.0, style=1.0), seed=3)
    blue_red = 0
    for _ in range(20):
        window, label, _ = styled.window(red)
        blue_red += window[..., 2].mean() > window[..., 0].mean()  # took the blue image's colours
        assert label.sum() in (32 * 32, 0) or label.max() == 1
    assert blue_red >= 5
    for _ in range(5):  # off: the red image stays red (through brightness and contrast jitter)
        window = plain.window(red)[0]
        assert window[..., 0].mean() > 2 * window[..., 2].mean()


def test_levers_off_cut_the_same_windows_as_before():
    samples = [flat((200, 40, 40), "a", building=True), flat((30, 40, 190), "b")]
    settings = WindowSettings(SIZE, (0.7, 1.4), hue=0.05, grayscale=0.2)
    one, two = WindowSampler(samples, settings, seed=5), WindowSampler(samples, settings, seed=5)
    for a, b in zip(one.batch(6), two.batch(6)):
        assert np.array_equal(a, b)


def test_cutmix_pastes_only_from_other_places():
    rng = np.random.default_rng(2)
    windows = [(np.full((SIZE, SIZE, 3), v, np.uint8), np.full((SIZE, SIZE), lab, np.uint8), np.ones((SIZE, SIZE), bool))
               for v, lab in ((10, 0), (20, 0), (200, 1))]
    mixed = cut_mixed(windows, ["a", "a", "b"], 1.0, rng)
    for (image, label, _), place_value in zip(mixed[:2], (10, 20)):
        pasted = image[..., 0] == 200
        assert 0.09 * SIZE * SIZE <= pasted.sum() <= 0.36 * SIZE * SIZE  # a 30-60 % square, from place b
        assert np.array_equal(label == 1, pasted) and set(np.unique(image)) == {place_value, 200}
    assert set(np.unique(mixed[2][0])) <= {10, 20, 200} and (mixed[2][0] == 200).any()
    assert cut_mixed(windows[:2], ["a", "a"], 1.0, rng) == windows[:2]  # one place: nothing to mix


def test_sensor_faults_stretch_some_windows_off_nadir():
    image = np.zeros((96, 96, 3), np.uint8)
    label = np.zeros((96, 96), np.uint8)
    label[40:56, 40:56] = 1  # a square house in the middle
    sample = Sample("s", lambda: (image, label, np.ones((96, 96), bool)))
    sampler = WindowSampler([sample], WindowSettings(SIZE, hue=0.0, grayscale=0.0, sensor=1.0), seed=0)
    ratios = []
    for _ in range(40):
        _, window_label, _ = sampler.window()
        rows, cols = np.nonzero(window_label)
        if len(rows) and rows.min() > 0 and cols.min() > 0 and rows.max() < SIZE - 1 and cols.max() < SIZE - 1:
            ratios.append((rows.max() - rows.min() + 1) / (cols.max() - cols.min() + 1))
    assert len(ratios) >= 5 and max(abs(np.log(r)) for r in ratios) > 0.1  # not square any more


def test_gap_weight_counts_the_pixels_between_buildings_more():
    logits = torch.zeros(1, 1, 2, 2)
    label = torch.tensor([[[1, 2], [0, 0]]], dtype=torch.uint8)  # a building, a gap pixel, background
    valid = torch.ones(1, 2, 2, dtype=torch.bool)
    plain = loss_fn(logits, Targets(label, valid), LossSettings("bce")).item()
    weighted = loss_fn(logits, Targets(label, valid), LossSettings("bce", gap_weight=3.0)).item()
    assert plain == pytest.approx(np.log(2)) and weighted == pytest.approx(np.log(2) * (1 + 3.0 / 4))
    two = torch.zeros(1, 2, 2, 2)
    doubled = loss_fn(two, Targets(label, valid), LossSettings("bce", separation_weight=2.0)).item()
    assert doubled == pytest.approx(np.log(2) * 3)  # the separation term counted twice
