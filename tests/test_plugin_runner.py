"""The QGIS plugin's bridge to the CLI (plain Python: it runs here without QGIS)."""

import sys

import numpy as np

from conftest import REPO, rectangles_scene, write_scene

sys.path.insert(0, str(REPO / "qgis_plugin"))
from geoseg_qgis import runner  # noqa: E402


def test_progress_lines_map_to_one_overall_percentage():
    assert runner.progress_of('{"stage": "infer", "done": 5, "total": 10, "percent": 50}') == 50.0
    assert runner.progress_of('{"stage": "other", "done": 1, "total": 1, "percent": 100}') is None
    assert runner.progress_of('{"stage": "files", "done": 1, "total": 4, "percent": 25}') == 25.0
    assert runner.progress_of("geoseg: error: x") is None


def test_the_error_line_is_found_without_its_prefix():
    lines = ['{"stage": "infer", "percent": 3}', "some warning", "geoseg: error: scene.tif has no CRS"]
    assert runner.error_of(lines) == "scene.tif has no CRS"
    assert runner.error_of(["Killed"]) == "Killed"


def test_commands_are_argument_lists_with_nothing_for_a_shell():
    args = runner.predict_command("/bin/geoseg", "a b;rm -rf ~.tif", "out.gpkg", threshold=0.4, regularize=True,
                                  separate=True, native_pixels=True)
    assert args == ["/bin/geoseg", "predict", "a b;rm -rf ~.tif", "-o", "out.gpkg", "--overwrite", "--progress",
                    "json", "--device", "auto", "--threshold", "0.4", "--regularize", "--separate", "--gsd", "native"]


def test_running_the_cli_reports_progress_to_the_end(tmp_path):
    scene = write_scene(tmp_path / "s.tif", rectangles_scene(300, 300, [(10, 10, 50, 50)]))
    seen = []
    code, error = runner.run([sys.executable, "-m", "geoseg", "predict", str(scene), "-o", str(tmp_path / "b.gpkg"),
                              "--progress", "json", "--tile-size", "128", "--model", "eunet-buildings"],
                             seen.append, lambda: False)
    assert (code, error) == (0, None)
    assert seen == sorted(seen) and seen[-1] == 100.0 and len(seen) > 3


def test_cancel_terminates_geoseg_which_cleans_up(tmp_path):
    scene = write_scene(tmp_path / "s.tif", np.random.default_rng(0).integers(0, 255, (3, 2500, 2500), dtype=np.uint8))
    seen = []
    code, error = runner.run([sys.executable, "-m", "geoseg", "predict", str(scene), "-o", str(tmp_path / "b.gpkg"),
                              "--progress", "json", "--tile-size", "128"], seen.append, lambda: bool(seen))
    assert code == 130 and "interrupted" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tif"]


def test_a_missing_command_is_explained(monkeypatch):
    monkeypatch.delenv(runner.ENV_EXECUTABLE, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        runner.find_executable(None)
    except runner.RunnerError as exc:
        assert "geoseg command was not found" in str(exc)
    else:
        raise AssertionError("expected RunnerError")
