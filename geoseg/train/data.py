"""Training samples and the random, augmented windows drawn from them.

A sample is an image stretched per band between its 2nd and 98th percentiles (exactly as
inference stretches a scene) and stored as uint8, its label (0/1 buildings or class IDs)
and a validity mask (nodata, void and ignore labels are invalid). Large datasets load each
image when it is drawn instead of holding all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from geoseg.models.input import normalised
from geoseg.read.percentiles import band_percentiles
from geoseg.train.appearance import colour_stats, cut_mixed, hazed, matched_colours, misregistered, sensor_transforms

Loaded = tuple[np.ndarray, np.ndarray, np.ndarray]  # image (h, w, 3) uint8, label (h, w) uint8, valid (h, w) bool


class Sample:
    """One training image; ``load`` is called on first use (every use when ``cache`` is off).
    ``source`` names the dataset it comes from, ``place`` where it was taken (validation is
    reported per place; the source's name where no place is known); ``gsd_m`` is its pixel
    size where known; an unlabelled sample's label is all zeros and not to be learnt."""

    def __init__(self, name: str, load: Callable[[], Loaded], cache: bool = True, source: str = "",
                 gsd_m: float | None = None, place: str = "", labelled: bool = True) -> None:
        self.name = name
        self.labelled = labelled  # False: imagery without labels (for a teacher's soft targets)
        self._load = load
        self.cached = cache
        self.source = source
        self.place = place or source
        self.gsd_m = gsd_m
        self._data: Loaded | None = None

    def data(self) -> Loaded:
        if self._data is not None:
            return self._data
        data = self._load()
        if self.cached:
            self._data = data
        return data

    @property
    def image(self) -> np.ndarray:
        return self.data()[0]

    @property
    def label(self) -> np.ndarray:
        return self.data()[1]

    @property
    def valid(self) -> np.ndarray:
        return self.data()[2]


def stretch(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(h, w, bands) raw values -> uint8, each band stretched between its 2nd and 98th percentiles."""
    low, high = band_percentiles(image.transpose(2, 0, 1), valid, 2.0, 98.0)
    scaled = np.clip((image.astype(np.float32) - low) / (high - low), 0, 1)
    return np.rint(scaled * 255).astype(np.uint8)


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """RGB pixels (h, w, 3) and validity: GeoTIFFs through rasterio (nodata and alpha honoured,
    one band replicated), PNG/JPEG through Pillow."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import rasterio

        with rasterio.open(path) as src:
            data = src.read([1, 2, 3] if src.count >= 3 else [1, 1, 1])
            valid = src.dataset_mask() > 0
        return data.transpose(1, 2, 0), valid
    from PIL import Image

    with Image.open(path) as im:
        data = np.asarray(im.convert("RGB"))
    return data, np.ones(data.shape[:2], dtype=bool)


def read_gray(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L") if im.mode not in ("L", "P") else im)


def resized(data: Loaded, size: tuple[int, int]) -> Loaded:
    """``(image, label, valid)`` at ``size`` (width, height): the image averaged when shrinking,
    as predict's resampling does, and interpolated when enlarging; label and validity by nearest
    pixel (validity keeps its dtype)."""
    image, label, valid = data
    shrinking = size[0] * size[1] < label.size
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
    valid = cv2.resize(valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(valid.dtype)
    return image, label, valid


MAX_DEGRADE = 2.5  # a degraded window is seen at up to 2.5 times its pixel size (0.5 m -> 1.25 m)


@dataclass(frozen=True)
class WindowSettings:
    """How training windows are cut and augmented (see :class:`WindowSampler`)."""

    size: int
    scale_range: tuple[float, float] = (1.0, 1.0)
    aerial: bool = True  # all eight D4 symmetries and greyscale; street scenes: left-right flips only
    hue: float = 0.04  # hue jitter, as a fraction of the circle
    grayscale: float = 0.2  # probability of a greyscale window
    degrade: float = 0.0  # probability of a window seen at a coarser resolution, then brought back
    gsd_m: float | None = None  # bring images of known pixel size to this one
    source_exponent: float = 1.0  # see draw_weights
    unlabelled_share: float = 0.0  # see draw_weights
    # recipe levers (geoseg.train.appearance), each a probability per window; 0: off
    style: float = 0.0  # take another training image's colour statistics
    sensor: float = 0.0  # each of: blur, noise, gamma, JPEG, haze, a misregistered band, off-nadir stretching
    cutmix: float = 0.0  # paste a rectangle of a window from another place


class WindowSampler:
    """Random training windows: an image (see :func:`draw_weights`), a crop whose side is
    ``size`` times a log-uniform scale, resized to ``size``, then flips (all eight D4
    symmetries for aerial images, left-right for street scenes), colour jitter, occasional
    greyscale (panchromatic scenes) and, if asked, occasional loss of resolution (a window
    shrunk by up to :data:`MAX_DEGRADE` and enlarged back: coarser or softer sensors, and 1 m
    scenes that ``predict`` enlarges to the model's pixel size).

    With the model's ``gsd_m``, images of known pixel size are first brought to it (a 0.3 m
    image is shrunk by 0.6), so the scale only jitters around the size buildings will have at
    inference; what a crop cannot fill is padding, outside the loss. Without it, a crop is at
    most the image's shorter side."""

    def __init__(self, samples: list[Sample], settings: WindowSettings, seed: int) -> None:
        import albumentations as A

        self.samples = samples
        self.settings = settings
        self.size = settings.size
        self.log_scale = np.log(settings.scale_range)
        self.gsd_m = settings.gsd_m
        self.weights = draw_weights(samples, settings.source_exponent, settings.gsd_m, settings.unlabelled_share)
        self.rng = np.random.default_rng(seed)
        transforms = [
            A.D4(p=1.0) if settings.aerial else A.HorizontalFlip(p=0.5),
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=settings.hue, p=0.8),
            A.ToGray(p=settings.grayscale if settings.aerial else 0.0),
        ]
        if settings.degrade:
            linear = {"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}
            transforms.append(A.Downscale(scale_range=(1 / MAX_DEGRADE, 0.9), interpolation_pair=linear, p=settings.degrade))
        if settings.sensor:
            transforms += sensor_transforms(settings.sensor)
        self.augment = A.Compose(transforms, seed=seed)
        self._colours: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # sample index -> colour statistics

    def window(self, sample: Sample | None = None) -> Loaded:
        """One ``(image, label, valid)`` training window of ``size`` x ``size`` from ``sample``
        (drawn at random if not given)."""
        if sample is None:
            sample = self.samples[self.rng.choice(len(self.samples), p=self.weights)]
        image, label, valid = sample.data()
        h, w = label.shape
        base = self.gsd_m / sample.gsd_m if self.gsd_m and sample.gsd_m else 1.0
        side = max(16, int(round(self.size * base * np.exp(self.rng.uniform(*self.log_scale)))))
        if self.gsd_m is None:  # the scale only augments: crops stay inside the image, nothing is padded
            side = min(side, h, w)
        stretch = self._chance(self.settings.sensor) and np.exp(self.rng.uniform(-0.2, 0.2))  # off-nadir
        side_y, side_x = (max(16, round(side / stretch)), max(16, round(side * stretch))) if stretch else (side, side)
        if self.gsd_m is None:
            side_y, side_x = min(side_y, h), min(side_x, w)
        rows, cols = min(side_y, h), min(side_x, w)
        y = int(self.rng.integers(0, h - rows + 1))
        x = int(self.rng.integers(0, w - cols + 1))
        crop = (slice(y, y + rows), slice(x, x + cols))
        image, label, valid = image[crop], label[crop], valid[crop].astype(np.uint8)
        if (side_y, side_x) != (self.size, self.size):
            image, label, valid = resized((image, label, valid), (max(1, round(cols * self.size / side_x)),
                                                                  max(1, round(rows * self.size / side_y))))
        if label.shape != (self.size, self.size):
            image, label, valid = self._padded(image, label, valid)
        image = self._appearance(image, valid)
        out = self.augment(image=image, masks=[label, valid])
        return out["image"], out["masks"][0], out["masks"][1].astype(bool)

    def _chance(self, probability: float) -> bool:
        """True with ``probability``; draws nothing when it is 0."""
        return bool(probability) and self.rng.random() < probability

    def _appearance(self, image: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Another image's colours (``style``), haze and a misregistered band (``sensor``)."""
        if self._chance(self.settings.style):
            other = int(self.rng.choice(len(self.samples), p=self.weights))
            if other not in self._colours:
                self._colours[other] = colour_stats(*self.samples[other].data()[::2])
            image = matched_colours(image, valid, self._colours[other])
        if self._chance(self.settings.sensor):
            image = hazed(image, self.rng)
        if self._chance(self.settings.sensor):
            image = misregistered(image, self.rng)
        return image

    def _padded(self, image: np.ndarray, label: np.ndarray, valid: np.ndarray) -> Loaded:
        """A crop smaller than the window, placed at random in it; the rest is invalid."""
        h, w = label.shape
        y, x = int(self.rng.integers(0, self.size - h + 1)), int(self.rng.integers(0, self.size - w + 1))
        at = (slice(y, y + h), slice(x, x + w))
        frames = [np.zeros((self.size, self.size, *a.shape[2:]), a.dtype) for a in (image, label, valid)]
        for frame, a in zip(frames, (image, label, valid)):
            frame[at] = a
        return tuple(frames)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``n`` windows: ``(n, s, s, 3)`` uint8 images, ``(n, s, s)`` labels and validity, and
        ``(n,)`` whether each window's image is labelled."""
        windows, drawn = [], []
        for _ in range(n):
            sample = self.samples[self.rng.choice(len(self.samples), p=self.weights)]
            windows.append(self.window(sample))
            drawn.append(sample)
        if self.settings.cutmix:  # between labelled windows of different places
            labelled = [i for i, s in enumerate(drawn) if s.labelled]
            mixed = cut_mixed([windows[i] for i in labelled], [drawn[i].place for i in labelled],
                              self.settings.cutmix, self.rng)
            for i, window in zip(labelled, mixed):
                windows[i] = window
        images, labels, valids = zip(*windows)
        return np.stack(images), np.stack(labels), np.stack(valids), np.array([s.labelled for s in drawn])


Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # as WindowSampler.batch returns it


def window_batches(samples: list[Sample], settings: WindowSettings, seed: int, n: int,
                   workers: int = 0) -> Iterator[Batch]:
    """Endless batches of ``n`` windows (:meth:`WindowSampler.batch`). With ``workers``, they are
    cut in that many processes, each with its own seed, while the caller trains: a GPU consumes
    windows faster than one core cuts them. The samples are loaded first, so the processes share
    them rather than each reading its own copy."""
    if not workers:
        sampler = WindowSampler(samples, settings, seed)
        while True:
            yield sampler.batch(n)
    for sample in samples:
        sample.data()
    loader = torch.utils.data.DataLoader(_WindowStream(samples, settings, seed, n), batch_size=None,
                                         num_workers=workers, collate_fn=_as_is, prefetch_factor=4,
                                         multiprocessing_context="fork")
    yield from loader


class _WindowStream(torch.utils.data.IterableDataset):
    """Batches from a :class:`WindowSampler` seeded per worker process."""

    def __init__(self, samples: list[Sample], settings: WindowSettings, seed: int, n: int) -> None:
        self.samples, self.settings, self.seed, self.n = samples, settings, seed, n

    def __iter__(self) -> Iterator[Batch]:
        worker = torch.utils.data.get_worker_info()
        if worker is not None:
            cv2.setNumThreads(1)  # one core per process
        sampler = WindowSampler(self.samples, self.settings, self.seed * 1009 + (worker.id if worker else 0) + 1)
        while True:
            yield tuple(torch.from_numpy(a) for a in sampler.batch(self.n))  # tensors cross in shared memory


def _as_is(batch: Batch) -> Batch:
    return batch


def draw_weights(samples: list[Sample], source_exponent: float = 1.0, gsd_m: float | None = None,
                 unlabelled_share: float = 0.0) -> np.ndarray:
    """How often each sample is drawn: a source (dataset) in proportion to its pixel count to
    the power ``source_exponent`` (1: by area alone; 0: every source equally), and an image
    within its source in proportion to its area. With ``gsd_m``, pixels are counted at that
    pixel size (a 0.15 m image has 11 times fewer pixels at 0.5 m) where an image's own is
    known. Unlabelled samples, if any, are drawn ``unlabelled_share`` of the time. Uncached
    samples count as one pixel each."""
    areas = np.array([(s.label.size * (s.gsd_m / gsd_m) ** 2 if gsd_m and s.gsd_m else s.label.size)
                      if s.cached else 1.0 for s in samples], dtype=np.float64)
    sources = np.array([s.source for s in samples])
    weights = np.empty_like(areas)
    for source in set(sources):
        of = sources == source
        total = areas[of].sum()
        weights[of] = areas[of] / total * total ** source_exponent
    unlabelled = np.array([not s.labelled for s in samples])
    if unlabelled.any() and not unlabelled.all():
        weights[unlabelled] *= unlabelled_share / weights[unlabelled].sum()
        weights[~unlabelled] *= (1 - unlabelled_share) / weights[~unlabelled].sum()
    return weights / weights.sum()


def card_normalisation(card) -> tuple[np.ndarray, np.ndarray]:
    """A model card's mean and std as float32 arrays, one value per band."""
    return np.asarray(card.mean, dtype=np.float32), np.asarray(card.std, dtype=np.float32)


def model_input(images: np.ndarray | torch.Tensor, mean: np.ndarray, std: np.ndarray,
                device: str | torch.device = "cpu") -> torch.Tensor:
    """Stretched uint8 ``(n, h, w, 3)`` windows as a model's normalised ``(n, 3, h, w)`` float32
    input on ``device`` (the bytes travel, the arithmetic happens there)."""
    return normalised(torch.as_tensor(images).to(device, non_blocking=True).permute(0, 3, 1, 2), mean, std)


def normalise(image: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """A stretched uint8 (h, w, 3) image as the model's (3, h, w) float32 input."""
    return ((image.transpose(2, 0, 1).astype(np.float32) / 255.0 - mean[:, None, None]) / std[:, None, None]).astype(np.float32)
