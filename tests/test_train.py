"""Training from every supported layout, on small synthetic data with known answers."""

import json
import subprocess
import sys

import numpy as np
import pytest
import shapely
import torch
import yaml
from conftest import ORIGIN, rectangles_scene, write_scene
from PIL import Image

from geoseg.errors import GeosegError
from geoseg.models import io, registry
from geoseg.models.registry import preset_card
from geoseg.train.config import load_config
from geoseg.train.data import Sample, WindowSampler, WindowSettings, draw_weights
from geoseg.train.layouts import cityscapes_train_ids, read_dataset
from geoseg.train.loop import train
from geoseg.train.losses import LossSettings, Targets, loss_fn
from geoseg.train.scoring import evaluate_samples
from geoseg.write.vectors import write_vector


def pair_folder(root, n=4, size=96):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = ["name,split"]
    rng = np.random.default_rng(0)
    for i in range(n):
        image = rng.integers(20, 60, (size, size, 3), dtype=np.uint8)
        mask = np.zeros((size, size), dtype=np.uint8)
        r, c = rng.integers(5, size - 40, 2)
        image[r:r + 30, c:c + 30] = 220
        mask[r:r + 30, c:c + 30] = 255
        Image.fromarray(image).save(root / "images" / f"t{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"t{i}.png")
        rows.append(f"t{i},{'val' if i == n - 1 else 'train'}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def config_file(tmp_path, model, data, **extra):
    cfg = {"model": model, "data": [str(d) for d in data], "tile_size": 64, "batch_size": 2, "epochs": 2,
           "steps_per_epoch": 3, "seed": 0, **extra}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_pair_folder_split_and_stretch(tmp_path):
    root = pair_folder(tmp_path / "d")
    train, val = read_dataset(root, "train"), read_dataset(root, "val")
    assert [s.name for s in train] == ["t0", "t1", "t2"] and [s.name for s in val] == ["t3"]
    image, label, valid = train[0].data()
    assert image.dtype == np.uint8 and image.max() == 255 and label.sum() == 900 and valid.all()


def test_training_writes_the_best_model_with_its_card_and_resumes(tmp_path):
    root = pair_folder(tmp_path / "d")
    config = load_config(config_file(tmp_path, "eunet-buildings", [root], training_data="synthetic", licence="CC0"))
    out = tmp_path / "run" / "m.safetensors"
    out.parent.mkdir()
    result = train(config, out, log=lambda line: None)
    assert result["epochs"] == 2
    state, card = io.load_state(out)
    assert card.trained and card.training_data == "synthetic" and card.metrics["split"] == "val"
    val = read_dataset(root, "val")
    assert card.metrics["iou"] == pytest.approx(evaluate_samples(registry.load(out)[0], val, card)["iou"], abs=1e-4)
    assert (out.parent / "training_curves.png").stat().st_size > 1000
    class Stop(Exception):
        pass

    def stop_after_first_epoch(line):
        if line.startswith("{"):
            raise Stop

    interrupted = tmp_path / "run" / "i.safetensors"
    with pytest.raises(Stop):
        train(config, interrupted, log=stop_after_first_epoch)
    resumed = train(config, interrupted, resume=interrupted.with_suffix(".ckpt"), log=lambda line: None)
    assert resumed["epochs"] == 2  # the first epoch from the checkpoint, the second run now
    with pytest.raises(GeosegError, match="resume without --epochs"):
        train(config, interrupted, resume=interrupted.with_suffix(".ckpt"), epochs=5, log=lambda line: None)


def test_validation_iou_rises_on_a_learnable_toy_set(tmp_path):
    root = pair_folder(tmp_path / "d", n=6)
    config = load_config(config_file(tmp_path, "eunet-buildings", [root], epochs=3, steps_per_epoch=8, batch_size=4,
                                     lr=3e-3, precision="auto"))
    out = tmp_path / "m.safetensors"
    train(config, out, log=lambda line: None)
    torch.manual_seed(0)
    untrained = evaluate_samples(registry.build(preset_card("eunet-buildings")), read_dataset(root, "val"),
                                 preset_card("eunet-buildings"))["iou"]
    _, card = registry.load(out)
    assert card.metrics["iou"] > untrained + 0.2, (untrained, card.metrics["iou"])


def test_scenes_with_footprints_are_rasterised_on_the_fly(tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    write_scene(folder / "a.tif", rectangles_scene(80, 80, [(10, 10, 30, 50)]))
    x0, y0 = ORIGIN
    write_vector([{"geometry": shapely.box(x0 + 10, y0 - 30, x0 + 50, y0 - 10)}], folder / "a.gpkg", "EPSG:32633", {}, False)
    (sample,) = read_dataset(folder, "train")
    image, label, valid = sample.data()
    assert label.sum() == 20 * 40 and label[20, 30] == 1 and label[50, 50] == 0
    write_scene(folder / "b.tif", rectangles_scene(80, 80, []))
    with pytest.raises(GeosegError, match="no footprints"):
        read_dataset(folder, "train")


def square_sample(size: int, source: str = "", gsd_m: float | None = None) -> Sample:
    """A grey image whose centre half (by side) is a building."""
    image = np.full((size, size, 3), 90, dtype=np.uint8)
    label = np.zeros((size, size), dtype=np.uint8)
    label[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    return Sample(f"{source}{size}", lambda: (image, label, np.ones((size, size), bool)), source=source, gsd_m=gsd_m)


def test_sources_are_drawn_by_pixel_count_to_a_power():
    samples = [square_sample(100, "big") for _ in range(4)] + [square_sample(100, "small"), square_sample(50, "small")]
    by_area = draw_weights(samples, 1.0)
    assert by_area[:4] == pytest.approx([1 / 5.25] * 4) and by_area[5] == pytest.approx(0.25 / 5.25)
    even = draw_weights(samples, 0.0)
    assert even[:4].sum() == pytest.approx(0.5) and even[4] == pytest.approx(0.4) and even[5] == pytest.approx(0.1)
    root = draw_weights(samples, 0.5)  # 40 000 against 12 500 pixels: 200 against 111.8
    assert root[4:].sum() == pytest.approx(111.8034 / 311.8034)


def test_windows_bring_images_to_the_model_pixel_size_and_pad_the_rest():
    fine = square_sample(128, gsd_m=0.25)  # a 64 x 64 px building of 16 m x 16 m
    sampler = WindowSampler([fine], WindowSettings(128, (1.0, 1.0), hue=0.0, grayscale=0.0, gsd_m=0.5), seed=0)
    for _ in range(8):
        image, label, valid = sampler.window()
        assert image.shape == (128, 128, 3) and valid.sum() == 64 * 64  # the whole image, at half size
        assert label.sum() == 32 * 32 and not label[~valid].any()
    for scale in (1.0, 2.0):  # without the model's pixel size: at most the whole image, never padded
        as_is = WindowSampler([fine], WindowSettings(128, (scale, scale), hue=0.0, grayscale=0.0), seed=0)
        image, label, valid = as_is.window()
        assert valid.all() and label.sum() == 64 * 64


class SizeProbe(torch.nn.Module):
    """Says "building" everywhere when it is shown at most 64 px across, "background" otherwise."""

    def forward(self, x):
        return torch.full_like(x[:, :1], 10.0 if x.shape[-1] <= 64 else -10.0)


def test_validation_sees_each_image_at_the_model_pixel_size():
    image = np.full((128, 128, 3), 90, np.uint8)
    everywhere = Sample("s", lambda: (image, np.ones((128, 128), np.uint8), np.ones((128, 128), bool)), gsd_m=0.25)
    card = preset_card("eunet-buildings")
    assert evaluate_samples(SizeProbe(), [everywhere], card)["iou"] == 0.0  # seen as it is: 128 px
    assert evaluate_samples(SizeProbe(), [everywhere], card, gsd_m=0.5)["iou"] == 1.0  # shrunk to 64 px, scored at 128


def test_pair_folders_know_the_source_and_pixel_size_of_each_image(tmp_path):
    root = pair_folder(tmp_path / "d")
    (root / "manifest.csv").write_text("name,split,source,gsd_m\nt0,train,aerial,0.3\nt1,train,,\n")
    a, b = read_dataset(root, "train")
    assert (a.source, a.gsd_m) == ("aerial", 0.3) and (b.source, b.gsd_m) == ("d", None)
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "a.tif", rectangles_scene(80, 80, []))  # 1 m pixels
    write_vector([], scenes / "a.gpkg", "EPSG:32633", {}, False)
    (scene,) = read_dataset(scenes, "train")
    assert scene.source == "scenes" and scene.gsd_m == pytest.approx(1.0)


def camvid_tree(root, n=3):
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        lines = []
        for i in range(n):
            image = np.zeros((72, 96, 3), dtype=np.uint8)
            label = np.zeros((72, 96), dtype=np.uint8)  # sky on top
            image[:36] = (120, 120, 200)
            image[36:] = (90, 60, 90)
            label[36:] = 3  # road below
            label[:4] = 11  # void
            Image.fromarray(image).save(root / split / f"f{i}.png")
            Image.fromarray(label).save(root / f"{split}annot" / f"f{i}.png")
            lines.append(f"{split}/f{i}.png {split}annot/f{i}.png")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_camvid_layout_and_a_multiclass_training_run(tmp_path):
    root = camvid_tree(tmp_path / "camvid")
    (sample,) = read_dataset(root, "train")[:1]
    _, label, valid = sample.data()
    assert not valid[:4].any() and valid[4:].all() and set(np.unique(label[valid])) == {0, 3}
    config = load_config(config_file(tmp_path, "enet-camvid", [root], class_weights=[1.0] * 11 + [0.0]))
    out = tmp_path / "c.safetensors"
    train(config, out, log=lambda line: None)
    _, card = io.load_state(out)
    assert card.num_outputs == 12 and "miou" in card.metrics and "iou_road" in card.metrics
    run = subprocess.run([sys.executable, "-m", "geoseg", "evaluate", "--model", out, "--data", root, "--split", "val",
                          "--json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    scores = json.loads(run.stdout)  # the card's validation scores, from the command
    assert scores["images"] == 3 and scores["split"] == "val"
    assert scores["miou"] == pytest.approx(card.metrics["miou"], abs=1e-4)
    assert scores["iou_road"] == pytest.approx(card.metrics["iou_road"], abs=1e-4) and "iou_void" not in scores
    weights, _ = io.load_state(out)
    run = subprocess.run([sys.executable, "-m", "geoseg", "evaluate", "--model", out, "--data", root, "--split", "train",
                          "--record", "--json"], capture_output=True, text=True, timeout=300)
    recorded, train_scores = io.load_state(out), json.loads(run.stdout)
    assert recorded[1].metrics["split"] == "train" and recorded[1].metrics["miou"] == round(train_scores["miou"], 4)
    assert recorded[1].metrics["epoch"] == card.metrics["epoch"]
    assert all(torch.equal(weights[k], recorded[0][k]) for k in weights)  # the weights are untouched


def test_training_on_train_and_val_keeps_the_last_epoch_without_validation(tmp_path):
    root = camvid_tree(tmp_path / "camvid", n=2)
    config = load_config(config_file(tmp_path, "enet-camvid", [root], class_weights=[1.0] * 11 + [0.0],
                                     train_splits=["train", "val"]))
    logged = []
    result = train(config, tmp_path / "c.safetensors", log=logged.append)
    assert logged[0].startswith("4 training and 0 validation images")
    _, card = io.load_state(tmp_path / "c.safetensors")
    assert card.metrics == {"epoch": 2} and result["epochs"] == 2
    with pytest.raises(GeosegError, match="train_splits"):
        load_config(config_file(tmp_path, "enet-camvid", [root], train_splits=["val"]))


def test_evaluate_on_a_split_that_is_not_there_says_so(tmp_path):
    from geoseg.train.scoring import score_dataset

    root = camvid_tree(tmp_path / "camvid", n=1)
    with pytest.raises(GeosegError, match="no test images"):
        score_dataset("enet-camvid", [str(root)], "test")


def test_cityscapes_layout_maps_label_ids_to_train_ids(tmp_path):
    assert cityscapes_train_ids(np.array([7, 11, 26, 0, 33, 5])).tolist() == [0, 2, 13, 255, 18, 255]
    image_dir = tmp_path / "cs" / "leftImg8bit" / "train" / "aachen"
    label_dir = tmp_path / "cs" / "gtFine" / "train" / "aachen"
    image_dir.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    Image.fromarray(np.full((32, 64, 3), 100, dtype=np.uint8)).save(image_dir / "aachen_000000_000019_leftImg8bit.png")
    ids = np.full((32, 64), 7, dtype=np.uint8)
    ids[:10] = 23  # sky
    ids[10:12] = 0  # unlabeled: ignored
    Image.fromarray(ids).save(label_dir / "aachen_000000_000019_gtFine_labelIds.png")
    (sample,) = read_dataset(tmp_path / "cs", "train")
    _, label, valid = sample.data()
    assert label[0, 0] == 10 and label[20, 0] == 0
    assert not valid[10:12].any() and valid.sum() == 30 * 64


def test_losses_ignore_invalid_pixels():
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[1, 0], [0, 0]]])
    valid = torch.tensor([[[True, False], [False, False]]])
    assert loss_fn(logits, Targets(target, valid), LossSettings("bce")).item() == pytest.approx(np.log(2))
    multi = torch.zeros(1, 3, 2, 2)
    assert loss_fn(multi, Targets(target, valid), LossSettings(multiclass=True)).item() == pytest.approx(np.log(3))


@pytest.mark.parametrize("steps", [4, 10, 150])
def test_short_and_long_schedules_warm_up_then_anneal(steps):
    import torch

    from geoseg.train.loop import one_cycle

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = one_cycle(optimizer, 0.1, steps)
    rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(steps - 1):
        optimizer.step()
        schedule.step()
        rates.append(optimizer.param_groups[0]["lr"])
    peak = int(np.argmax(rates))
    assert 0 < peak < steps - 1 and rates[peak] == pytest.approx(0.1)
    assert rates[0] < 0.1 / 2 and rates[-1] < 0.1 / 100


def test_a_schedule_of_two_steps_is_refused_three_run():
    import torch

    from geoseg.errors import GeosegError
    from geoseg.train.loop import one_cycle

    with pytest.raises(GeosegError, match="at least 3"):
        one_cycle(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), 0.1, 2)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = one_cycle(optimizer, 0.1, 3)
    for _ in range(2):
        optimizer.step()
        schedule.step()
    assert optimizer.param_groups[0]["lr"] < 0.1 / 100


def footprint_scenes(folder, n=3, size=160, pixel=0.5):
    """Scenes of dark ground with mid-grey 12 x 12 m buildings, their footprints beside them."""
    from rasterio.transform import from_origin

    folder.mkdir()
    rng = np.random.default_rng(1)
    x0, y0 = ORIGIN
    for i in range(n):
        boxes = []
        for r in range(10, size - 30, 40):
            for c in range(10, size - 30, 40):
                r0, c0 = r + int(rng.integers(0, 8)), c + int(rng.integers(0, 8))
                boxes.append((r0, c0, r0 + 24, c0 + 24))
        data = rectangles_scene(size, size, boxes, bright=120, dark=60)
        data = np.clip(data + rng.integers(0, 40, data.shape), 0, 255).astype(np.uint8)
        write_scene(folder / f"s{i}.tif", data, transform=from_origin(x0, y0, pixel, pixel))
        polygons = [{"geometry": shapely.box(x0 + c0 * pixel, y0 - r1 * pixel, x0 + c1 * pixel, y0 - r0 * pixel)}
                    for r0, c0, r1, c1 in boxes]
        write_vector(polygons, folder / f"s{i}.gpkg", "EPSG:32633", {}, False)
    return folder


def test_fine_tuning_keeps_the_card_and_learns_the_new_buildings(tmp_path):
    from geoseg.models import registry
    from geoseg.train.config import fine_tune_config

    scenes = footprint_scenes(tmp_path / "mine")
    config = fine_tune_config("eunet-buildings", [str(scenes)])
    config.tile_size, config.batch_size, config.epochs, config.steps_per_epoch, config.lr = 64, 4, 2, 10, 3e-3
    out = tmp_path / "mine.safetensors"
    train(config, out, log=lambda line: None)
    before, shipped = registry.load("eunet-buildings")
    after, card = registry.load(out)
    assert card.name == "eunet-buildings" and card.initialisation == "fine-tuned from eunet-buildings (eunet-buildings)"
    assert (card.mean, card.std, card.gsd_m, card.bands) == (shipped.mean, shipped.std, shipped.gsd_m, shipped.bands)
    samples = read_dataset(scenes, "train")
    iou_before = evaluate_samples(before, samples, shipped, gsd_m=0.5)["iou"]
    iou_after = evaluate_samples(after, samples, card, gsd_m=0.5)["iou"]
    assert iou_after > max(0.85, iou_before + 0.05), (iou_before, iou_after)


def test_a_preset_of_the_same_network_takes_over_a_fine_tuned_model():
    from geoseg.train.config import fine_tune_config
    from geoseg.train.loop import start_card

    config = fine_tune_config("eunet-mobilenetv2-buildings", [])
    config.model = "eunet-mobilenetv2-buildings-xbd"  # the same network under another name (and licence)
    card, state = start_card(config)
    assert card.name == "eunet-mobilenetv2-buildings-xbd" and card.architecture == "eunet-mobilenetv2"
    assert card.initialisation.startswith("fine-tuned from eunet-mobilenetv2-buildings ") and len(state) > 100
    config.model = "eunet-efficientnet-lite2-buildings"  # another network: refused
    with pytest.raises(GeosegError, match="is a eunet-mobilenetv2-buildings model, but the config asks for"):
        start_card(config)


def test_fine_tuning_refuses_an_untrained_start(tmp_path):
    from geoseg.train.config import fine_tune_config

    config = fine_tune_config("enet-buildings", [str(footprint_scenes(tmp_path / "mine", n=1))])
    with pytest.raises(GeosegError, match="no trained weights"):
        train(config, tmp_path / "m.safetensors", log=lambda line: None)


class FaintProbe(torch.nn.Module):
    """Probability 0.4 on bright pixels and 0.2 elsewhere: right, but below the usual 0.5 cut."""

    def forward(self, x):
        p = torch.where(x[:, :1] > 0, 0.4, 0.2)
        return torch.log(p / (1 - p))


def test_the_threshold_is_chosen_on_validation_places():
    from geoseg.train.scoring import choose_threshold

    image = np.full((64, 64, 3), 20, np.uint8)
    image[16:48, 16:48] = 230
    label = (image[..., 0] > 128).astype(np.uint8)
    sample = Sample("s", lambda: (image, label, np.ones((64, 64), bool)), place="here")
    card = preset_card("eunet-buildings")
    assert evaluate_samples(FaintProbe(), [sample], card)["iou"] == 0.0
    card.threshold = choose_threshold(FaintProbe(), [sample], card)
    assert card.threshold == 0.3
    scores = evaluate_samples(FaintProbe(), [sample], card)
    assert scores["iou"] == 1.0 and scores["iou/here"] == 1.0 and scores["place_iou"] == 1.0


def test_unlabelled_windows_learn_from_the_teacher_alone():
    logits = torch.zeros(2, 1, 2, 2)
    label = torch.zeros(2, 2, 2, dtype=torch.uint8)
    valid = torch.ones(2, 2, 2, dtype=torch.bool)
    soft = torch.ones(2, 1, 2, 2)
    unlabelled = Targets(label, valid, soft, torch.tensor([False, False]))
    assert loss_fn(logits, unlabelled, LossSettings("bce", distill=0.3)).item() == pytest.approx(0.3 * np.log(2))
    agreeing = Targets(torch.ones(2, 2, 2, dtype=torch.uint8), valid, soft, torch.tensor([True, True]))
    assert loss_fn(logits, agreeing, LossSettings("bce", distill=0.3)).item() == pytest.approx(np.log(2))
    assert loss_fn(logits + 20, agreeing, LossSettings("bce", distill=0.3)).item() == pytest.approx(0.0, abs=1e-6)


def disagreement(student, student_card, teacher, teacher_card, samples) -> float:
    """Mean absolute difference of two models' building probabilities on ``samples``."""
    from geoseg.train.scoring import binary_probabilities

    mine = binary_probabilities(student, samples, student_card, 0.5, "fp32")
    theirs = binary_probabilities(teacher, samples, teacher_card, 0.5, "fp32")
    return float(np.mean([np.abs(p - q)[valid].mean() for (_, p, _, valid), (_, q, _, _) in zip(mine, theirs)]))


def test_a_student_learns_to_answer_as_its_teacher_on_unlabelled_imagery(tmp_path):
    from geoseg.models import registry
    from geoseg.train.layouts import unlabelled_images

    scenes = footprint_scenes(tmp_path / "scenes")
    for vector in scenes.glob("*.gpkg"):
        vector.unlink()  # imagery only
    labelled = pair_folder(tmp_path / "d")
    config = load_config(config_file(tmp_path, "eunet-buildings", [labelled], teacher="eunet-buildings",
                                     unlabelled=[str(scenes)], unlabelled_share=0.9, distill=1.0, gsd_m=0.5,
                                     train_at_gsd=True, epochs=2, steps_per_epoch=10, batch_size=4, lr=3e-3))
    out = tmp_path / "student.safetensors"
    train(config, out, log=lambda line: None)
    student, card = registry.load(out)
    teacher, teacher_card = registry.load("eunet-buildings")
    assert "distilled from eunet-buildings" in card.training_data
    samples = unlabelled_images(scenes)
    assert not any(s.labelled for s in samples)
    torch.manual_seed(0)
    untrained = registry.build(registry.preset_card("eunet-buildings"))
    before = disagreement(untrained, card, teacher, teacher_card, samples)
    after = disagreement(student, card, teacher, teacher_card, samples)
    assert after < 0.8 * before  # 0.225 -> 0.152 when written


def test_unlabelled_imagery_needs_a_teacher(tmp_path):
    labelled = pair_folder(tmp_path / "d")
    with pytest.raises(GeosegError, match="needs a teacher"):
        load_config(config_file(tmp_path, "eunet-buildings", [labelled], unlabelled=[str(labelled)]))


def test_degraded_windows_lose_detail_but_keep_their_labels():
    image = np.zeros((128, 128, 3), np.uint8)
    image[::2] = 255  # one-pixel stripes: gone at any coarser resolution
    label = np.zeros((128, 128), np.uint8)
    label[32:96, 32:96] = 1
    sample = Sample("s", lambda: (image, label, np.ones((128, 128), bool)))
    sharp = WindowSampler([sample], WindowSettings(128, hue=0.0, grayscale=0.0), seed=0)
    soft = WindowSampler([sample], WindowSettings(128, hue=0.0, grayscale=0.0, degrade=1.0), seed=0)
    for sampler, contrast in ((sharp, 200), (soft, 100)):
        for _ in range(4):
            window, truth, _ = sampler.window()
            stripes = np.abs(np.diff(window[..., 0].astype(int), axis=0)).mean() + np.abs(
                np.diff(window[..., 0].astype(int), axis=1)).mean()
            assert (stripes > contrast) if sampler is sharp else (stripes < contrast)
            assert truth.sum() == 64 * 64


def test_the_separation_output_learns_the_separation_flags():
    logits = torch.zeros(1, 2, 2, 2)
    label = torch.tensor([[[1 | 2, 0], [0, 2]]], dtype=torch.uint8)  # building + separation, separation in a gap
    valid = torch.ones(1, 2, 2, dtype=torch.bool)
    assert loss_fn(logits, Targets(label, valid), LossSettings("bce")).item() == pytest.approx(2 * np.log(2))
    right = torch.tensor([[[[20.0, -20], [-20, -20]], [[20, -20], [-20, 20]]]])
    assert loss_fn(right, Targets(label, valid), LossSettings("bce")).item() == pytest.approx(0.0, abs=1e-6)
    wrong_separation = right * torch.tensor([1.0, -1.0])[None, :, None, None]
    assert loss_fn(wrong_separation, Targets(label, valid), LossSettings("bce")).item() == pytest.approx(20.0, rel=1e-3)
