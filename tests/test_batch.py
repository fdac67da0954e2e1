"""Batch runs over folders: resume, skip, redo, lock, bad files, merge, and Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from conftest import ORIGIN, BrightNet, predictor_for, rectangles_scene, write_scene
from rasterio.transform import from_origin

from geoseg.batch import jobs as batch
from geoseg.batch.state import LOCK_NAME, FolderLock
from geoseg.errors import GeosegError
from geoseg.options import PredictOptions

TILE = 200
# buildings in a 2 x 2 mosaic of 200 px tiles (row0, col0, row1, col1), in mosaic pixels
MOSAIC_BOXES = [
    (50, 180, 80, 230),  # crosses the vertical border between tiles (0,0) and (0,1)
    (180, 20, 230, 60),  # crosses the horizontal border
    (170, 170, 240, 240),  # crosses both: four pieces
    (20, 20, 40, 40),  # inside one tile
]
OPTIONS = PredictOptions(tile_size=128, overlap=32)


@pytest.fixture(autouse=True)
def bright_model(monkeypatch):
    """Batch jobs in this process use the stand-in model that calls bright pixels buildings."""
    monkeypatch.setattr(batch, "_PREDICTORS", {(None, "auto", "auto", "auto", False, 4, False): predictor_for(BrightNet())})


def make_mosaic(folder, boxes=MOSAIC_BOXES):
    folder.mkdir(parents=True, exist_ok=True)
    mosaic = rectangles_scene(2 * TILE, 2 * TILE, boxes)
    for r in range(2):
        for c in range(2):
            transform = from_origin(ORIGIN[0] + c * TILE, ORIGIN[1] - r * TILE, 1.0, 1.0)
            tile = mosaic[:, r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE]
            write_scene(folder / f"tile_{r}_{c}.tif", np.ascontiguousarray(tile), transform=transform)


def test_merge_joins_buildings_across_tile_borders(tmp_path):
    make_mosaic(tmp_path / "in")
    summary = batch.run_batch(tmp_path / "in", tmp_path / "out", merge=tmp_path / "all.gpkg", options=OPTIONS)
    assert summary["done"] == 4 and summary["failed"] == 0
    per_tile = sum(len(pyogrio.read_dataframe(tmp_path / "out" / f"tile_{r}_{c}.gpkg")) for r in range(2) for c in range(2))
    assert per_tile == 1 + 2 + 2 + 4
    merged = pyogrio.read_dataframe(tmp_path / "all.gpkg")
    assert len(merged) == len(MOSAIC_BOXES) == summary["merged_buildings"]
    assert sorted(merged["area_m2"]) == sorted(float((b[2] - b[0]) * (b[3] - b[1])) for b in MOSAIC_BOXES)
    assert all(g.geom_type == "Polygon" for g in merged.geometry)


def test_rerun_skips_done_files_and_redoes_changed_ones(tmp_path):
    make_mosaic(tmp_path / "in")
    first = batch.run_batch(tmp_path / "in", tmp_path / "out", options=OPTIONS)
    assert (first["done"], first["skipped"]) == (4, 0)
    again = batch.run_batch(tmp_path / "in", tmp_path / "out", options=OPTIONS)
    assert (again["done"], again["skipped"]) == (0, 4)
    changed = tmp_path / "in" / "tile_1_1.tif"
    write_scene(changed, rectangles_scene(TILE, TILE, [(10, 10, 50, 50), (100, 100, 150, 150)]),
                transform=from_origin(ORIGIN[0] + TILE, ORIGIN[1] - TILE, 1.0, 1.0))
    third = batch.run_batch(tmp_path / "in", tmp_path / "out", options=OPTIONS)
    assert (third["done"], third["skipped"]) == (1, 3)
    assert len(pyogrio.read_dataframe(tmp_path / "out" / "tile_1_1.gpkg")) == 2
    other = batch.run_batch(tmp_path / "in", tmp_path / "out", options=replace(OPTIONS, threshold=0.7))
    assert other["done"] == 4  # new settings: everything is redone


def test_a_corrupt_file_is_recorded_and_the_rest_go_on(tmp_path):
    make_mosaic(tmp_path / "in")
    (tmp_path / "in" / "broken.tif").write_bytes(b"II*\x00garbage")
    seen = []
    summary = batch.run_batch(tmp_path / "in", tmp_path / "out", options=OPTIONS, on_result=seen.append)
    assert (summary["done"], summary["failed"]) == (4, 1)
    (failure,) = [r for r in seen if r.status == "failed"]
    assert failure.relative == "broken.tif" and "not a raster" in failure.error
    assert not (tmp_path / "out" / "broken.gpkg").exists()


def test_outputs_mirror_subfolders_and_never_leave_the_output_folder(tmp_path):
    make_mosaic(tmp_path / "in" / "2026" / "north")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "2026").symlink_to(outside, target_is_directory=True)
    summary = batch.run_batch(tmp_path / "in", tmp_path / "out", recursive=True, options=OPTIONS)
    assert summary["failed"] == 4 and list(outside.iterdir()) == []
    (tmp_path / "out" / "2026").unlink()
    summary = batch.run_batch(tmp_path / "in", tmp_path / "out", recursive=True, options=OPTIONS)
    assert summary["done"] == 4
    assert (tmp_path / "out" / "2026" / "north" / "tile_0_0.gpkg").is_file()
    with pytest.raises(GeosegError, match="outside"):
        batch.output_for(batch.Path("../x.gpkg"), tmp_path / "out")


def test_dask_local_cluster_gives_the_same_result_as_a_local_run(tmp_path):
    from distributed import LocalCluster

    make_mosaic(tmp_path / "in")
    local = batch.run_batch(tmp_path / "in", tmp_path / "local", merge=tmp_path / "local.gpkg", options=OPTIONS)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        dask = batch.run_batch(tmp_path / "in", tmp_path / "dask", merge=tmp_path / "dask.gpkg", options=OPTIONS,
                               dask_scheduler=cluster.scheduler_address)
    assert (dask["done"], dask["failed"]) == (local["done"], local["failed"]) == (4, 0)
    a = pyogrio.read_dataframe(tmp_path / "local.gpkg").sort_values("area_m2")
    b = pyogrio.read_dataframe(tmp_path / "dask.gpkg").sort_values("area_m2")
    assert list(a["area_m2"]) == list(b["area_m2"])
    assert all(x.equals(y) for x, y in zip(a.geometry, b.geometry))


def geoseg_batch(*args):
    return [sys.executable, "-m", "geoseg", "batch", *map(str, args)]


def _gpu_seen(barrier) -> str:
    barrier.wait(timeout=60)  # both tasks run at once, so each in its own worker
    return os.environ["CUDA_VISIBLE_DEVICES"]


def test_each_local_worker_sees_its_own_gpu(monkeypatch):
    import multiprocessing

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, 5")
    assert batch.visible_gpus("auto") == batch.visible_gpus("cuda") == ["3", "5"]
    assert batch.visible_gpus("cpu") == batch.visible_gpus("cuda:1") == []
    with multiprocessing.get_context("spawn").Manager() as manager:
        barrier = manager.Barrier(2)
        with batch.worker_pool(2, batch.visible_gpus("auto")) as pool:
            seen = sorted(pool.map(_gpu_seen, [barrier, barrier]))
    assert seen == ["3", "5"]


def test_dask_tasks_ask_for_a_gpu_resource(tmp_path):
    from distributed import LocalCluster
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Restrictions(SchedulerPlugin):
        """What each geoseg task asked of its worker when it started processing."""

        def __init__(self, scheduler):
            self.scheduler, self.asked = scheduler, {}

        def transition(self, key, start, finish, *args, **kwargs):
            if finish == "processing":
                self.asked[key] = self.scheduler.tasks[key].resource_restrictions

    make_mosaic(tmp_path / "in")
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, dashboard_address=None,
                      resources={"GPU": 1}) as cluster:
        plugin = Restrictions(cluster.scheduler)
        cluster.scheduler.add_plugin(plugin)
        summary = batch.run_batch(tmp_path / "in", tmp_path / "out", options=OPTIONS,
                                  dask_scheduler=cluster.scheduler_address, dask_resources={"GPU": 1})
    assert (summary["done"], summary["failed"]) == (4, 0)
    assert len(plugin.asked) == 4 and all(asked == {"GPU": 1} for asked in plugin.asked.values())


def test_second_run_on_a_locked_folder_exits_zero_at_once(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "in").mkdir()
    with FolderLock(tmp_path / "out"):
        run = subprocess.run(geoseg_batch(tmp_path / "in", "-o", tmp_path / "out"), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0
    assert f"pid {os.getpid()}" in run.stderr and "exiting" in run.stderr


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "in").mkdir()
    (tmp_path / "out" / LOCK_NAME).write_text("999999")  # left by a run that died
    run = subprocess.run(geoseg_batch(tmp_path / "in", "-o", tmp_path / "out", "--json"), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["inputs"] == 0


def noise_folder(folder, count: int, size: int):
    """``count`` noise scenes of ``size``^2 pixels in ``folder``."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        write_scene(folder / f"s{i}.tif", rng.integers(0, 255, (3, size, size), dtype=np.uint8))
    return folder


def wait_for_lines(log, count: int) -> None:
    """Until the batch log holds ``count`` lines (files finished)."""
    deadline = time.monotonic() + 300
    while not (log.exists() and log.read_text().count("\n") >= count) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_interrupted_parallel_run_stops_its_workers_within_two_seconds(tmp_path):
    folder = noise_folder(tmp_path / "in", 8, 1200)
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    proc = subprocess.Popen(geoseg_batch(folder, "-o", out, "--model", "eunet-buildings", "--workers", "2", "--log", log),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_lines(log, 1)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert time.monotonic() - sent < 2
    finished = {p.name for p in out.glob("*.gpkg")}
    time.sleep(5)  # a worker left running would finish its file now
    assert {p.name for p in out.glob("*.gpkg")} == finished and len(finished) < 8


def test_an_interrupt_between_two_results_still_stops_the_workers(tmp_path):
    """The interrupt can come while the run records a result (the batch's own code, not the
    pool's): the workers must stop then too, not go on with the files queued for them."""
    folder = noise_folder(tmp_path / "in", 8, 1200)
    out = tmp_path / "out"

    def interrupted(result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as caught:  # held, as the command line's handler holds it while it exits
        batch.run_batch(folder, out, PredictOptions(model="eunet-buildings"), workers=2, on_result=interrupted)
    finished = {p.name for p in out.glob("*.gpkg")}
    time.sleep(8)  # a worker left running would finish its next file now
    assert {p.name for p in out.glob("*.gpkg")} == finished and len(finished) < 8
    assert caught.traceback  # the interrupted frames were alive all along


def test_killed_run_resumes_and_finishes(tmp_path):
    folder = noise_folder(tmp_path / "in", 6, 640)
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    args = geoseg_batch(folder, "-o", out, "--model", "eunet-buildings", "--log", log, "--tile-size", "256")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_lines(log, 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {json.loads(line)["relative"] for line in log.read_text().splitlines()}
    assert 2 <= len(finished) < 6
    complete = {p.name for p in out.glob("[!.]*.gpkg")}  # not the hidden temporary file of the scene under way
    assert complete == {f.replace(".tif", ".gpkg") for f in finished}  # nothing half-written under a final name
    rerun = subprocess.run(args + ["--json"], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["skipped"] == len(finished) and summary["done"] == 6 - len(finished)
    assert len(list(out.glob("*.gpkg"))) == 6
    assert not list(out.glob(".*part*"))


def test_outputs_in_another_format_with_rasters_and_previews_named_from_patterns(tmp_path):
    make_mosaic(tmp_path / "in")
    plain = batch.run_batch(tmp_path / "in", tmp_path / "out", OPTIONS, batch.Outputs("geojson"))
    assert plain["done"] == 4 and sorted(p.name for p in (tmp_path / "out").glob("*.geojson"))[0] == "tile_0_0.geojson"
    outputs = batch.Outputs("geojson", raster="{stem}_prob.tif", preview="{stem}.png", creation_options={"compress": "lzw"})
    more = batch.run_batch(tmp_path / "in", tmp_path / "out", OPTIONS, outputs, merge=tmp_path / "all.gpkg")
    assert more["done"] == 4 and more["skipped"] == 0  # asking for more outputs redoes the inputs
    with rasterio.open(tmp_path / "out" / "tile_1_1_prob.tif") as prob:
        assert prob.compression.name == "lzw" and prob.shape == (TILE, TILE)
    assert (tmp_path / "out" / "tile_1_1.png").read_bytes()[:4] == b"\x89PNG"
    assert more["merged_buildings"] == len(MOSAIC_BOXES)
    with pytest.raises(GeosegError, match="must be a file name with {stem}"):
        batch.Outputs(raster="prob.tif")


def test_a_file_the_batch_did_not_write_is_left_alone_unless_overwrite(tmp_path):
    make_mosaic(tmp_path / "in")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "tile_0_0.gpkg").write_text("the user's own file")
    kept = batch.run_batch(tmp_path / "in", tmp_path / "out", OPTIONS)
    assert (kept["done"], kept["failed"]) == (3, 1)
    assert (tmp_path / "out" / "tile_0_0.gpkg").read_text() == "the user's own file"
    redone = batch.run_batch(tmp_path / "in", tmp_path / "out", replace(OPTIONS, threshold=0.6))
    assert (redone["done"], redone["failed"]) == (3, 1)  # its own outputs are redone without asking
    replaced = batch.run_batch(tmp_path / "in", tmp_path / "out", OPTIONS, batch.Outputs(overwrite=True))
    assert replaced["done"] == 4 and len(pyogrio.read_dataframe(tmp_path / "out" / "tile_0_0.gpkg")) == 4


def test_waiting_for_another_run_is_announced_then_done(tmp_path):
    import threading

    make_mosaic(tmp_path / "in")
    (tmp_path / "out").mkdir()
    waited, result = [], {}
    with FolderLock(tmp_path / "out"):
        worker = threading.Thread(target=lambda: result.update(batch.run_batch(
            tmp_path / "in", tmp_path / "out", OPTIONS, wait=True, on_wait=waited.append)))
        worker.start()
        deadline = time.monotonic() + 60
        while not waited and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waited == [str(os.getpid())] and not result  # told whom it waits for, and still waiting
    worker.join(120)
    assert result["done"] == 4


def test_merging_keeps_every_column_and_joins_only_the_same_class(tmp_path):
    from geoseg.batch.merge import write_merged
    from geoseg.write.vectors import schema, write_vector

    columns = schema(multiclass=True, regularized=True)
    left, right = shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)  # touching across a tile border
    other = shapely.box(10, 10, 20, 20)  # touches the left one's corner region, but another class
    rows = lambda geoms, classes, flags: [  # noqa: E731
        {"geometry": g, "class_id": c, "class": ["road", "building"][c], "area_m2": g.area, "perimeter_m": g.length,
         "score": 0.8, "regularized": f} for g, c, f in zip(geoms, classes, flags)]
    write_vector(rows([left], [1], [True]), tmp_path / "a.gpkg", "EPSG:32633", columns, overwrite=False)
    write_vector(rows([right, other], [1, 0], [False, True]), tmp_path / "b.gpkg", "EPSG:32633", columns, overwrite=False)
    assert write_merged([tmp_path / "a.gpkg", tmp_path / "b.gpkg"], tmp_path / "m.gpkg", 0.5, overwrite=False) == 2
    merged = pyogrio.read_dataframe(tmp_path / "m.gpkg").sort_values("area_m2")
    assert list(merged.columns) == [*columns, "geometry"]
    assert list(merged["class"]) == ["road", "building"] and list(merged["area_m2"]) == [100.0, 200.0]
    assert list(merged["regularized"]) == [True, False]  # joined: straight only if every piece was


def test_a_list_of_urls_is_a_batch_like_a_folder(tmp_path):
    from range_server import RangeServer

    make_mosaic(tmp_path / "served")
    server = RangeServer(tmp_path / "served")
    try:
        listing = tmp_path / "scenes.txt"
        urls = [f"{server.url}/tile_{r}_{c}.tif" for r in range(2) for c in range(2)]
        listing.write_text("# the mosaic, served\n" + "\n".join(urls) + f"\n\n{server.url}/gone.tif?sig=1\n")
        seen = []
        first = batch.run_batch(listing, tmp_path / "out", options=OPTIONS, merge=tmp_path / "all.gpkg",
                                on_result=seen.append)
        assert (first["done"], first["failed"], first["inputs"]) == (4, 1, 5)
        assert first["merged_buildings"] == len(MOSAIC_BOXES)
        assert sorted(p.name for p in (tmp_path / "out").glob("*.gpkg")) == [f"tile_{r}_{c}.gpkg" for r in range(2) for c in range(2)]
        (failed,) = [r for r in seen if r.status == "failed"]
        assert failed.relative == "gone.tif" and "404" in failed.error and "\n" not in failed.error
        again = batch.run_batch(listing, tmp_path / "out", options=OPTIONS)
        assert (again["done"], again["skipped"], again["failed"]) == (0, 4, 1)
        tile = tmp_path / "served" / "tile_0_0.tif"
        with rasterio.open(tile) as src:
            data, profile = src.read(), src.profile
        write_scene(tile, data, transform=profile["transform"], compress="deflate")  # rewritten in place
        third = batch.run_batch(listing, tmp_path / "out", options=OPTIONS)
        assert (third["done"], third["skipped"]) == (1, 3)
    finally:
        server.close()


def test_a_list_naming_two_scenes_alike_is_refused(tmp_path):
    listing = tmp_path / "scenes.txt"
    listing.write_text("https://a.example/x/scene.tif\nhttps://b.example/y/scene.tif\n")
    with pytest.raises(GeosegError, match="several scenes named scene.tif"):
        batch.run_batch(listing, tmp_path / "out", options=OPTIONS)


@pytest.mark.parametrize("resource", ["GPU", "GPU=", "=1", "GPU=one", "GPU=0"])
def test_a_bad_dask_resource_is_a_usage_error(tmp_path, resource):
    run = subprocess.run(geoseg_batch(tmp_path, "-o", tmp_path / "out", "--dask-resource", resource),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "--dask-resource" in run.stderr and "NAME=COUNT" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()
