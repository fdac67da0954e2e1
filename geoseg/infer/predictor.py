"""The predictor: a model card and a backend that turns batches of normalised tiles into
class probabilities, on the best device there is."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from geoseg.errors import GeosegError
from geoseg.infer.cache import file_digest, network_digest
from geoseg.infer.compiled import compiled_network
from geoseg.infer.folding import fold_batch_norms
from geoseg.models import registry
from geoseg.models.card import ModelCard
from geoseg.models.heads import building_probability
from geoseg.models.input import as_bytes, byte_table, normalised


def choose_device(requested: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; ``cuda``/``mps``/``cpu`` force one."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if requested.startswith("cuda") and not cuda:
        raise GeosegError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu")
    if requested == "mps" and not mps:
        raise GeosegError("--device mps was asked for, but Apple MPS is not available; use --device cpu")
    return torch.device(requested)


class Backend(Protocol):
    """Turns ``(N, bands, H, W)`` stretched uint8 tiles into ``(N, outputs, H, W)`` uint8
    probabilities (0-255): a binary model's building probability (its separation output
    applied), a multiclass model's class probabilities. In two steps, so that the first runs
    where tiles are read (in the reader threads) and only the second where the model runs:
    ``prepare`` (normalising, or the copy to the device) and ``run``; calling does both."""

    def prepare(self, batch: np.ndarray) -> Any: ...

    def run(self, prepared: Any) -> np.ndarray: ...

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class TwoSteps:
    """``backend(batch)`` as ``run(prepare(batch))``."""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.run(self.prepare(batch))


PRECISIONS = ("fp32", "bf16", "fp16")


def reduced_precision_ok(device: torch.device, precision: str) -> bool:
    """Whether ``precision`` autocast is worth it here: bf16 on CPUs with AMX or AVX-512 BF16
    and on CUDA with bf16 support, fp16 on CUDA."""
    if precision == "fp32":
        return True
    if device.type == "cuda":
        return precision == "fp16" or torch.cuda.is_bf16_supported()
    if device.type == "cpu" and precision == "bf16":
        flags = _cpu_flags()
        return "amx_bf16" in flags or "avx512_bf16" in flags
    return False


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class TorchBackend(TwoSteps):
    """Runs a PyTorch network in inference mode, channels-last, wholly in fp32, bf16 or fp16
    (the sigmoid/softmax in fp32), its batch normalisations folded into the convolutions
    before them in fp32 first (:mod:`geoseg.infer.folding`; the network is changed in place),
    eagerly or compiled ahead of time (:mod:`geoseg.infer.compiled`).
    Tiles travel as bytes and are normalised on the device; probabilities come back as bytes.
    On CUDA the tiles go up from a pinned buffer of the preparing thread's own, reused batch
    after batch (once its last copy has finished).

    With ``compile``, each new input shape gets a compiled network (loaded from the cache, or
    compiled once into it; loading takes about a second). A compiled network always gets
    batches of ``batch_size`` (short batches are padded), so one package serves a whole
    scene; if compiling fails the network runs eagerly."""

    def __init__(self, model: torch.nn.Module, card: ModelCard, device: torch.device, precision: str = "fp32",
                 compile: bool = False, batch_size: int = 1) -> None:
        if precision not in PRECISIONS:
            raise GeosegError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        if not reduced_precision_ok(device, precision):
            raise GeosegError(f"--precision {precision} is not supported on {device.type} here; use fp32")
        self.dtype = DTYPES[precision]
        self.eager = fold_batch_norms(model).to(device, dtype=self.dtype, memory_format=torch.channels_last)
        self.card = card
        self.compile = compile
        self.batch_size = batch_size
        self.device = device
        self.softmax = card.activation == "softmax"
        self.networks: dict[tuple, Callable] = {}  # input shape -> the network that runs it
        self._local = threading.local()  # CUDA: each preparing thread's pinned buffer and its last copy

    @property
    def compiled(self) -> bool:
        """Whether any input shape so far ran compiled."""
        return any(net is not self.eager for net in self.networks.values())

    def _network(self, x: torch.Tensor) -> Callable:
        shape = tuple(x.shape)
        if shape not in self.networks:
            self.networks[shape] = self.eager
            if self.compile:
                try:
                    self.networks[shape] = compiled_network(self.eager, self.card, x)
                except Exception as exc:  # no C++ compiler, unsupported op, a package that failed its trial
                    logging.getLogger(__name__).warning("compiling failed (%s); running eagerly", str(exc).splitlines()[0])
        return self.networks[shape]

    def _upload(self, batch: np.ndarray) -> torch.Tensor:
        """The uint8 batch on the device (through this thread's pinned buffer on CUDA)."""
        tiles = torch.from_numpy(batch)
        if self.device.type != "cuda":
            return tiles
        local = self._local
        if getattr(local, "pinned", None) is None or local.pinned.shape != tiles.shape:
            local.pinned, local.copied = torch.empty(tiles.shape, dtype=torch.uint8).pin_memory(), None
        if local.copied is not None:
            local.copied.synchronize()  # the previous batch has left the buffer
        local.pinned.copy_(tiles)
        on_device = local.pinned.to(self.device, non_blocking=True)
        local.copied = torch.cuda.Event()
        local.copied.record()
        return on_device

    def prepare(self, batch: np.ndarray) -> tuple[int, torch.Tensor]:
        """The batch, padded to ``batch_size`` for a compiled network: on CUDA normalised on the
        device; on the CPU normalised by a table lookup in NumPy (single-threaded, so that the
        reader threads leave PyTorch's threads to the network)."""
        n = batch.shape[0]
        if self.compile and n < self.batch_size:
            batch = np.concatenate([batch, np.zeros((self.batch_size - n, *batch.shape[1:]), batch.dtype)])
        if self.device.type == "cpu":
            return n, torch.from_numpy(byte_table(self.card).take_along(batch))
        with torch.inference_mode():
            return n, normalised(self._upload(batch), self.card.mean, self.card.std)

    def run(self, prepared: tuple[int, torch.Tensor]) -> np.ndarray:
        return self.answer(prepared).cpu().numpy()

    def answer(self, prepared: tuple[int, torch.Tensor]) -> torch.Tensor:
        """:meth:`run`'s uint8 probabilities, left on the device."""
        n, x = prepared
        with torch.inference_mode():
            x = x.to(self.device, self.dtype, memory_format=torch.channels_last)
            logits = self._network(x)(x)[:n].float()
            probs = logits.softmax(dim=1) if self.softmax else building_probability(logits.sigmoid(), self.card.separation)
            return as_bytes(probs)


class OnnxBackend(TwoSteps):
    """Runs an exported geoseg ONNX model through ONNX Runtime (CUDA provider on a GPU)."""

    def __init__(self, path: str | Path, device: torch.device) -> None:
        import onnxruntime as ort

        from geoseg.models.onnx import read_metadata

        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise GeosegError(f"{path} is not an ONNX model ONNX Runtime can load ({str(exc).splitlines()[0]})") from None
        self.card, self.divisor = read_metadata(self.session)
        self.input = self.session.get_inputs()[0].name

    def prepare(self, batch: np.ndarray) -> tuple[tuple[int, int], np.ndarray]:
        """Normalised and padded to the network's stride."""
        h, w = batch.shape[-2:]
        x = byte_table(self.card).take_along(batch)
        pad = ((0, 0), (0, 0), (0, (-h) % self.divisor), (0, (-w) % self.divisor))
        return (h, w), np.pad(x, pad, mode="edge")

    def run(self, prepared: tuple[tuple[int, int], np.ndarray]) -> np.ndarray:
        (h, w), x = prepared
        logits = torch.from_numpy(self.session.run(None, {self.input: x})[0][..., :h, :w])
        if self.card.activation == "softmax":
            return as_bytes(logits.softmax(dim=1)).numpy()
        return as_bytes(building_probability(logits.sigmoid(), self.card.separation)).numpy()


class FlipAverage(TwoSteps):
    """Test-time augmentation: the mean of ``backend``'s answers for the batch as it is and
    flipped left-right, top-bottom and both, each flipped back (four passes), as bytes."""

    FLIPS = ((), (-1,), (-2,), (-2, -1))

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def prepare(self, batch: np.ndarray) -> np.ndarray:
        return batch

    def run(self, batch: np.ndarray) -> np.ndarray:
        total = None
        for axes in self.FLIPS:
            flipped = np.ascontiguousarray(np.flip(batch, axes)) if axes else batch
            answer = self.backend(flipped).astype(np.uint16)
            answer = np.flip(answer, axes) if axes else answer
            total = answer.copy() if total is None else total + answer
        return ((total + len(self.FLIPS) // 2) // len(self.FLIPS)).astype(np.uint8)


@dataclass
class Predictor:
    """A backend with its model's card; ``digest`` identifies the weights (outputs' provenance)."""

    backend: Backend
    card: ModelCard
    device: str
    name: str
    digest: str = ""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Stretched uint8 tiles ``(N, bands, H, W)`` -> uint8 probabilities (see :class:`Backend`)."""
        return self.run(self.prepare(batch))

    def prepare(self, batch: np.ndarray) -> Any:
        return self.backend.prepare(np.ascontiguousarray(batch, dtype=np.uint8))

    def run(self, prepared: Any) -> np.ndarray:
        return self.backend.run(prepared)

    @property
    def answers_on_device(self) -> bool:
        """Whether the answers can stay on a GPU to be blended there
        (:class:`~geoseg.stitch.device.DeviceStitcher`): a torch backend on CUDA."""
        return isinstance(self.backend, TorchBackend) and self.backend.device.type == "cuda"

    def run_on_device(self, prepared: Any) -> torch.Tensor:
        """:meth:`run`'s answers as a uint8 tensor on the backend's device (a torch backend only)."""
        return self.backend.answer(prepared)


def load_predictor(model: str | Path | None = None, device: str = "auto", backend: str = "auto",
                   precision: str = "fp32", compile: bool = False, batch_size: int = 4,
                   tta: bool = False) -> Predictor:
    """A predictor for ``--model`` (preset name, .safetensors or .onnx file; the default model
    if None). ``backend`` is torch, onnx, or auto (onnx for .onnx files, torch otherwise);
    ``precision`` (torch only) fp32, bf16 or fp16, or auto: the fastest that keeps the
    accuracy here (see docs/performance.md); ``compile`` (torch only) runs the network compiled
    ahead of time (the first compile of a tile shape takes about half a minute, later runs
    load it from geoseg's cache in about a second). ``tta`` averages each tile over its flips
    (:class:`FlipAverage`; four times the work)."""
    predictor = _load_predictor(model, device, backend, precision, compile, batch_size)
    if not predictor.card.trained:
        config = f"configs/{predictor.card.name}.yaml"
        raise GeosegError(f"{predictor.card.name} has no trained weights, so its predictions would be noise; "
                          f"train it first (geoseg train {config}) or pick a model that has them (geoseg models)")
    if tta:
        predictor.backend = FlipAverage(predictor.backend)
        predictor.device += ", flip TTA"
    return predictor


def _load_predictor(model: str | Path | None, device: str, backend: str, precision: str, compile: bool,
                    batch_size: int) -> Predictor:
    torch_device = choose_device(device)
    if precision == "auto":
        precision = default_precision(torch_device)
    if backend == "auto":
        backend = "onnx" if model is not None and str(model).endswith(".onnx") else "torch"
    if backend == "onnx":
        path = Path(model) if model is not None and str(model).endswith(".onnx") else exported(model)
        if not path.is_file():
            raise GeosegError(f"model file {path} does not exist")
        onnx = OnnxBackend(path, torch_device)
        return Predictor(onnx, onnx.card, f"{torch_device} (onnxruntime)", onnx.card.name, file_digest(path)[:16])
    if model is not None and str(model).endswith(".onnx"):
        raise GeosegError("an .onnx model runs on the onnx backend; drop --backend torch")
    net, card = registry.load(model)
    label = f"{torch_device} ({precision})" if precision != "fp32" else str(torch_device)
    digest = network_digest(net, card)
    backend_ = TorchBackend(net, card, torch_device, precision, compile=compile, batch_size=batch_size)
    return Predictor(backend_, card, label, card.name, digest)


def default_precision(device: torch.device) -> str:
    """fp16 on CUDA; bf16 on CPUs with bf16 matrix units; fp32 elsewhere."""
    if device.type == "cuda":
        return "fp16"
    return "bf16" if reduced_precision_ok(device, "bf16") else "fp32"


def exported(model: str | Path | None) -> Path:
    """The ONNX export of a preset or weights file, made once and cached by content."""
    from geoseg.infer.cache import cache_dir
    from geoseg.models.onnx import export

    net, card = registry.load(model)
    path = cache_dir() / f"{card.name}-{network_digest(net, card)}.onnx"
    if not path.is_file():
        export(net, card, path, overwrite=True)
    return path
