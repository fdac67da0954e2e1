"""Networks compiled ahead of time with AOTInductor and kept in geoseg's cache.

A package is specific to the weights, the input shape (batch, bands, height, width), the
precision, the device and the PyTorch version. The first run that needs one compiles it
(about half a minute on 2 CPU cores, with a C++ compiler); every later run loads it in
about a second.

A package is native code: loading a bad one can take the whole process down (it did, on
CUDA with PyTorch 2.11, in ``aoti_load_package``), and no ``except`` catches that. So a new
package is first proven in a child process (loaded and run once on zeros); the verdict is
kept beside it (``.ok`` or ``.bad``), and only a proven package is ever loaded into the
process that holds the user's run.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from geoseg.infer.cache import cache_dir, network_digest
from geoseg.models.card import ModelCard
from geoseg.write.atomic import temporary_name

Network = Callable[[torch.Tensor], torch.Tensor]
log = logging.getLogger(__name__)
PROOF_TIMEOUT_S = 300


class Unproven(RuntimeError):
    """A compiled package failed its trial in a child process."""


def package_path(net: torch.nn.Module, card: ModelCard, example: torch.Tensor) -> Path:
    """Where the compiled package for ``net`` on inputs like ``example`` lives in the cache."""
    shape = "x".join(str(n) for n in example.shape)
    dtype = str(example.dtype).removeprefix("torch.")
    version = torch.__version__.replace("+", "-")
    return cache_dir() / f"{card.name}-{network_digest(net, card)}-{shape}-{dtype}-{example.device.type}-torch{version}.pt2"


def verdict_path(package: Path, ok: bool) -> Path:
    return package.with_name(package.name + (".ok" if ok else ".bad"))


def compiled_network(net: torch.nn.Module, card: ModelCard, example: torch.Tensor) -> Network:
    """``net`` compiled for inputs of ``example``'s shape, dtype and device: loaded from the
    cache, or compiled and stored there first; proven in a child process before it is loaded
    here (:class:`Unproven` if it fails there)."""
    path = package_path(net, card, example)
    if verdict_path(path, False).is_file():
        raise Unproven(f"{path.name} failed its trial before: {verdict_path(path, False).read_text().strip()}")
    if not path.is_file():
        log.warning("compiling %s for %s inputs (once; later runs load it from %s)",
                    card.name, "x".join(map(str, example.shape)), path.parent)
        with torch.inference_mode(False), torch.no_grad():
            program = torch.export.export(net, (example,))
        part = temporary_name(path)
        try:
            torch._inductor.aoti_compile_and_package(program, package_path=str(part))
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
    if not verdict_path(path, True).is_file():
        prove(path, tuple(example.shape), example.dtype, example.device)
    return load(path)


def load(path: Path) -> Network:
    """The network in the package at ``path``, loaded by PyTorch's C++ loader directly:
    ``torch._inductor.aoti_load_package`` does the same, but importing ``torch._inductor``
    costs about 150 MB of resident memory that a run never uses."""
    loader = torch._C._aoti.AOTIModelPackageLoader(str(path), "model", False, 1, -1)
    return lambda x: loader.run([x])[0]


def prove(path: Path, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> None:
    """Load and run the package at ``path`` once in a child process and keep the verdict."""
    args = [sys.executable, "-X", "faulthandler", "-m", __name__, str(path), "x".join(map(str, shape)),
            str(dtype).removeprefix("torch."), str(device)]
    try:
        child = subprocess.run(args, capture_output=True, text=True, timeout=PROOF_TIMEOUT_S)
        failure = None if child.returncode == 0 else _reason(child.returncode, child.stderr)
    except subprocess.TimeoutExpired:
        failure = f"no answer within {PROOF_TIMEOUT_S} s"
    if failure is None:
        verdict_path(path, True).write_text("loaded and ran in a child process\n")
        return
    verdict_path(path, False).write_text(failure + "\n")
    raise Unproven(f"{path.name} failed its trial in a child process ({failure})")


def _reason(code: int, stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    signal = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    return f"{signal}: {lines[-1]}" if lines else signal


def trial(path: str, shape: str, dtype: str, device: str) -> None:
    """Load the package at ``path`` as a run would and feed it zeros once (the child's work)."""
    net = load(Path(path))
    x = torch.zeros(tuple(map(int, shape.split("x"))), dtype=getattr(torch, dtype), device=device)
    net(x.contiguous(memory_format=torch.channels_last))
    if device.startswith("cuda"):
        torch.cuda.synchronize()


if __name__ == "__main__":
    trial(*sys.argv[1:])
