"""Folders of scenes, as cron jobs run them: one output per input mirroring the folder tree,
resumable (a SQLite state file says what is done, with which model), locked against
overlapping runs, one bad file never stopping the rest; on local processes or a Dask cluster."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from geoseg.batch.state import BatchState, Busy, Fingerprint, FolderLock
from geoseg.errors import GeosegError
from geoseg.options import PredictOptions, available_cores
from geoseg.read.sources import Source, as_source, source_name
from geoseg.write.formats import VECTOR_FORMATS, resolve_format


@dataclass(frozen=True)
class Outputs:
    """What a batch writes per input, beside the polygons in ``vector_format``: the probability
    raster and a preview, named from patterns with ``{stem}`` (the input's name without its
    extension). ``overwrite`` replaces files this batch did not write."""

    vector_format: str = "gpkg"
    raster: str | None = None  # e.g. "{stem}_prob.tif"
    preview: str | None = None  # e.g. "{stem}.png"
    creation_options: dict = field(default_factory=dict)
    overwrite: bool = False
    raster_format: str | None = None  # gtiff, cog or png; by default from the raster's name

    def __post_init__(self) -> None:
        if self.vector_format not in VECTOR_FORMATS:
            raise GeosegError(f"--format {self.vector_format}: use one of {', '.join(VECTOR_FORMATS)}")
        for option, pattern in (("--raster", self.raster), ("--preview", self.preview)):
            if pattern is not None and (Path(pattern).name != pattern or "{stem}" not in pattern):
                raise GeosegError(f"{option} {pattern!r} must be a file name with {{stem}} in it, e.g. '{{stem}}_prob.tif'")
        if self.raster_format is not None:
            if self.raster is None:
                raise GeosegError("--raster-format goes with --raster")
            resolve_format(self.raster, self.raster_format)

    def digest(self) -> str:
        """What the outputs are, for the batch state: asking for another output means redo."""
        return json.dumps(asdict(self) | {"overwrite": None}, sort_keys=True)

    def paths(self, relative: Path, output_dir: Path) -> dict[str, Path | None]:
        """The output, raster and preview of ``relative`` under ``output_dir``."""
        named = {"output": output_for(relative.with_suffix(VECTOR_FORMATS[self.vector_format]), output_dir)}
        for kind, pattern in (("raster", self.raster), ("preview", self.preview)):
            named[kind] = output_for(relative.with_name(pattern.format(stem=relative.stem)), output_dir) if pattern else None
        return named


@dataclass(frozen=True)
class Job:
    """One input and everything a worker needs to process it (plain data: it travels to workers)."""

    input: str
    relative: str
    paths: dict  # output, raster, preview (str or None)
    options: PredictOptions
    outputs: Outputs


@dataclass
class Result:
    relative: str
    status: str  # "done" or "failed"
    error: str | None = None
    seconds: float = 0.0
    megapixels: float = 0.0
    buildings: int = 0


def find_inputs(inputs: Path, pattern: str, recursive: bool) -> list[tuple[Source, Path]]:
    """The scenes of a batch, sorted, each with the name its outputs take (relative to the
    output folder): the files under a folder ``inputs`` matching ``pattern`` (hidden files
    skipped), mirroring its subfolders; or the paths and URLs listed in a text file ``inputs``,
    one per line (blank lines and ``#`` comments skipped), by file name."""
    if inputs.is_dir():
        found = inputs.rglob(pattern) if recursive else inputs.glob(pattern)
        files = sorted(p for p in found if p.is_file() and not any(part.startswith(".") for part in p.relative_to(inputs).parts))
        return [(p, p.relative_to(inputs)) for p in files]
    if not inputs.is_file():
        raise GeosegError(f"{inputs} is neither a folder nor a list of scenes")
    lines = [line.strip() for line in inputs.read_text().splitlines()]
    sources = [as_source(line) for line in lines if line and not line.startswith("#")]
    named = [(source, Path(source_name(source))) for source in sources]
    names = Counter(str(relative) for _, relative in named)
    if clashes := sorted(name for name, n in names.items() if n > 1):
        raise GeosegError(f"{inputs} lists several scenes named {', '.join(clashes)}; their outputs would clash")
    return sorted(named, key=lambda pair: str(pair[1]))


def output_for(relative: Path, output_dir: Path) -> Path:
    """Where the file ``relative`` goes under ``output_dir``, refusing anything that would land
    outside it (``..`` in names, or a symlinked folder or file in the output tree)."""
    root = output_dir.resolve()
    target = output_dir / relative
    if ".." in relative.parts or not target.parent.resolve().is_relative_to(root):
        raise GeosegError(f"the output for {relative} would fall outside {output_dir}")
    if target.is_symlink():
        raise GeosegError(f"{target} is a symbolic link; geoseg will not write through it")
    return target


def remove_leftovers(output_dir: Path) -> None:
    """Delete what a killed run left half-written. Only called under the folder lock, when no
    other geoseg batch can be writing here."""
    from geoseg.write.atomic import TEMPORARY_GLOB

    for path in output_dir.rglob(TEMPORARY_GLOB):
        path.unlink(missing_ok=True)


_PREDICTORS: dict = {}


def run_job(job: Job) -> Result:
    """Process one file (in this process, a pool worker or a Dask worker); never raises."""
    from geoseg.infer.predictor import load_predictor
    from geoseg.pipeline import predict

    started = time.perf_counter()
    # one predictor per worker for the whole folder, so compiling (unless --compile no) pays off
    engine = job.options.engine() | {"compile": job.options.compile == "yes"}
    key = tuple(engine.values())
    try:
        if key not in _PREDICTORS:
            _PREDICTORS[key] = load_predictor(**engine)
        Path(job.paths["output"]).parent.mkdir(parents=True, exist_ok=True)
        summary = predict(job.input, job.paths["output"], job.options.without_engine(), raster=job.paths["raster"],
                          raster_format=job.outputs.raster_format, preview=job.paths["preview"], overwrite=True,
                          creation_options=job.outputs.creation_options, predictor=_PREDICTORS[key])
    except GeosegError as exc:
        return Result(job.relative, "failed", str(exc), time.perf_counter() - started)
    except Exception as exc:  # a bad file must not stop the batch; record what happened
        return Result(job.relative, "failed", f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
    return Result(job.relative, "done", None, time.perf_counter() - started,
                  summary["width"] * summary["height"] / 1e6, summary["buildings"])


def visible_gpus(device: str) -> list[str]:
    """The CUDA GPUs a batch's workers may share out (their IDs as ``CUDA_VISIBLE_DEVICES``
    names them), for ``--device auto`` or ``cuda``; none for any other device."""
    if device not in ("auto", "cuda"):
        return []
    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    if named is not None:
        return [gpu.strip() for gpu in named.split(",") if gpu.strip()]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def _init_worker(threads: int, slots, gpus: list[str]) -> None:
    """Each pool process takes the next slot; with GPUs, slot ``i`` sees only GPU ``i mod N``
    (set before CUDA starts in this fresh process, so its ``cuda`` is that GPU)."""
    slot = slots.get()
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    import torch

    torch.set_num_threads(threads)


def worker_pool(workers: int, gpus: list[str] = ()):
    """A pool of ``workers`` fresh processes, each with its share of the cores and, when there
    are ``gpus``, one of them in turn."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for slot in range(workers):
        slots.put(slot)
    threads = max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(threads, slots, list(gpus)))


def run_local(jobs: list[Job], workers: int, gpus: list[str] = ()) -> Iterator[Result]:
    """In this process (``workers`` 1) or a pool of ``workers`` processes sharing the cores,
    each pinned to one of ``gpus`` in turn when there are any."""
    if workers <= 1:
        for job in jobs:
            yield run_job(job)
        return
    from concurrent.futures import as_completed

    pool = worker_pool(workers, gpus)
    try:
        futures = {pool.submit(run_job, job): job for job in jobs}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # the worker process died
                yield Result(futures[future].relative, "failed", f"worker died: {exc}")
    except BaseException:  # interrupted: the workers must not finish files after we are gone
        for process in list((getattr(pool, "_processes", None) or {}).values()):  # CPython: pid -> Process
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def run_dask(jobs: list[Job], address: str, resources: dict[str, float] | None = None) -> Iterator[Result]:
    """On a dask.distributed cluster: one task per file; workers write to the shared output path.
    Each task asks for ``resources`` (e.g. ``{"GPU": 1}``: workers started with
    ``--resources GPU=1`` run one task at a time each)."""
    from distributed import Client, as_completed

    with Client(address) as client:
        futures = client.map(run_job, jobs, pure=False, key=[f"geoseg-{j.relative}" for j in jobs],
                             resources=resources or None)
        relative = {f.key: j.relative for f, j in zip(futures, jobs)}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # the task was lost with its worker
                yield Result(relative[future.key], "failed", f"{type(exc).__name__}: {exc}")


Report = Callable[[Result], None]


def run_batch(input_dir: Path, output_dir: Path, options: PredictOptions = PredictOptions(),
              outputs: Outputs = Outputs(), *, pattern: str = "*.tif", recursive: bool = False, workers: int = 1,
              dask_scheduler: str | None = None, dask_resources: dict[str, float] | None = None,
              merge: Path | None = None, wait: bool = False,
              on_wait: Callable[[str], None] = lambda pid: None, on_start: Callable[[int], None] = lambda n: None,
              on_result: Report = lambda r: None) -> dict:
    """Process every new or changed input; return the summary. Raises :class:`Busy` if another
    run holds ``output_dir`` (with ``wait``, calls ``on_wait(pid)`` and waits for it)."""
    from geoseg.models.registry import fingerprint

    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with FolderLock(output_dir, wait=wait, on_wait=on_wait):
        remove_leftovers(output_dir)
        state = BatchState(output_dir)
        try:
            digest = options.digest(fingerprint(options.model) + outputs.digest())
            inputs = find_inputs(input_dir, pattern, recursive)
            jobs, prints, counts = [], {}, {"done": 0, "skipped": 0, "failed": 0}
            for path, relative in inputs:
                prints[str(relative)] = Fingerprint.of(path, digest)
                try:
                    paths = outputs.paths(relative, output_dir)
                    if state.is_done(str(relative), prints[str(relative)]) and paths["output"].exists():
                        counts["skipped"] += 1
                        continue
                    if not outputs.overwrite and not state.wrote(str(relative)):
                        for target in filter(None, paths.values()):
                            if target.exists():
                                raise GeosegError(f"{target} exists and was not written by this batch; "
                                                  "use --overwrite to replace it")
                except GeosegError as exc:
                    state.record(str(relative), prints[str(relative)], "failed", str(exc))
                    counts["failed"] += 1
                    on_result(Result(str(relative), "failed", str(exc)))
                    continue
                named = {kind: str(p) if p else None for kind, p in paths.items()}
                jobs.append(Job(str(path), str(relative), named, options, outputs))
            if options.compile == "auto":
                from geoseg.infer.predictor import choose_device
                from geoseg.pipeline import wants_compile

                device = choose_device(options.device).type
                mode = "yes" if wants_compile("auto", sum(_megapixels(job.input) for job in jobs), device) else "no"
                jobs = [replace(job, options=replace(job.options, compile=mode)) for job in jobs]
            if not dask_scheduler and options.workers is None:  # each process its share of the cores
                share = max(1, available_cores() // max(1, workers))
                jobs = [replace(job, options=replace(job.options, workers=share)) for job in jobs]
            on_start(len(jobs))
            megapixels = 0.0
            if dask_scheduler:
                results = run_dask(jobs, dask_scheduler, dask_resources)
            else:
                results = run_local(jobs, workers, visible_gpus(options.device) if workers > 1 else [])
            with contextlib.closing(results):  # an interrupt between two results stops the workers too
                for result in results:
                    state.record(result.relative, prints[result.relative], result.status, result.error,
                                 result.seconds, result.megapixels, result.buildings)
                    counts[result.status] += 1
                    megapixels += result.megapixels
                    on_result(result)
            merged = None
            if merge is not None:
                merged = _merge(state, output_dir, {str(relative): path for path, relative in inputs}, merge, outputs)
        finally:
            state.close()
    seconds = time.perf_counter() - started
    return {**counts, "inputs": len(inputs), "megapixels": round(megapixels, 2), "seconds": round(seconds, 2),
            "megapixels_per_second": round(megapixels / seconds, 3) if seconds else 0.0,
            "merged": str(merge) if merge else None, "merged_buildings": merged}


def _megapixels(source: Source) -> float:
    """A raster's size in megapixels from its header (0 if it cannot be opened: it will fail later)."""
    from geoseg.read.scene import open_scene

    try:
        with open_scene(source) as src:
            return src.width * src.height / 1e6
    except GeosegError:
        return 0.0


def _merge(state: BatchState, output_dir: Path, sources: dict[str, Source], merge: Path, outputs: Outputs) -> int:
    """Write every done output of the batch into ``merge``, joining buildings across tile borders
    (within half a pixel of an input that is still there)."""
    from geoseg.batch.merge import write_merged
    from geoseg.read.scene import open_scene

    done = [row["path"] for row in state.rows() if row["status"] == "done"]
    present = [sources[p] for p in done if p in sources]
    if not present:
        raise GeosegError("nothing to merge: no input of this batch has been processed")
    with open_scene(present[0]) as src:
        tolerance = abs(src.transform.a) / 2
    suffix = VECTOR_FORMATS[outputs.vector_format]
    return write_merged([output_dir / Path(p).with_suffix(suffix) for p in done], merge, tolerance, overwrite=True)


def result_line(result: Result) -> str:
    return json.dumps(asdict(result))


__all__ = ["Busy", "Job", "Outputs", "Result", "run_batch", "run_job"]
