"""The QGIS plugin's bridge to the CLI (plain Python: it runs here without QGIS)."""

import sys
from dataclasses import fields

import numpy as np

from conftest import REPO, rectangles_scene, write_scene
from geoseg.options import PredictOptions

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


def parsed(args: list[str]) -> tuple[str, dict]:
    """The subcommand and its parameters, as the geoseg CLI's own parser reads ``args``."""
    from geoseg.cli import cli

    assert args[0] == "/bin/geoseg"
    command = cli.get_command(None, args[1])
    params = command.make_context(args[1], list(args[2:])).params
    if args[1] == "batch":  # batch's own --workers counts processes; it is no prediction option
        params["processes"] = params.pop("workers")
    return args[1], params


def options_of(params: dict) -> PredictOptions:
    """The prediction options the CLI builds from its parsed parameters."""
    from geoseg.cli import predict_options

    return predict_options(dict(params))


def test_commands_are_argument_lists_the_cli_reads_as_meant():
    args = runner.predict_command("/bin/geoseg", "a b;rm -rf ~.tif", "out.gpkg", raster="p.tif",
                                  options={"model": "m.onnx", "threshold": 0.4, "regularize": True})
    name, params = parsed(args)
    assert name == "predict" and params["scene"] == "a b;rm -rf ~.tif"  # one argument: nothing for a shell
    assert (params["output"], params["raster"], params["overwrite"], params["progress_mode"]) == (
        "out.gpkg", "p.tif", True, "json")
    assert options_of(params) == PredictOptions(model="m.onnx", threshold=0.4, regularize=True)
    _, plain = parsed(runner.predict_command("/bin/geoseg", "s.tif", "o.gpkg"))
    assert options_of(plain) == PredictOptions()  # nothing chosen: the model card decides


def test_every_prediction_option_reaches_the_cli_by_its_name():
    chosen = {"model": "eunet-buildings", "device": "cpu", "backend": "onnx", "precision": "fp32", "compile": "no",
              "batch_size": 2, "tta": True, "tile_size": 256, "overlap": 16, "bands": (3, 2, 1), "gsd": "native",
              "bbox": (1.5, 2.0, 3.0, 4.25), "bbox_crs": "EPSG:4326", "threshold": 0.3, "simplify": 0.5,
              "min_area": 4.0, "fill_holes": 1.0, "regularize": True, "separate": False, "max_size": 250.0}
    # workers: predict's own (batch's --workers counts processes, each given its share of the cores)
    assert set(chosen) | {"aoi", "workers"} == {f.name for f in fields(PredictOptions)}  # a new option needs a line here
    _, params = parsed(runner.predict_command("/bin/geoseg", "s.tif", "o.gpkg", {"workers": 3}))
    assert options_of(params) == PredictOptions(workers=3)
    for command in ("predict", "batch"):
        args = (runner.predict_command("/bin/geoseg", "s.tif", "o.gpkg", chosen) if command == "predict"
                else runner.batch_command("/bin/geoseg", "in", "out", chosen))
        _, params = parsed(args)
        assert options_of(params) == PredictOptions(**chosen)
    _, params = parsed(runner.predict_command("/bin/geoseg", "s.tif", "o.gpkg", {"aoi": "area.gpkg", "separate": True}))
    assert options_of(params) == PredictOptions(aoi="area.gpkg", separate=True)


def test_vectorize_commands_are_read_as_meant():
    args = runner.vectorize_command("/bin/geoseg", "p.tif", "b.gpkg", {"threshold": 0.7, "separate": False,
                                                                       "bbox": (0.0, 0.0, 10.0, 10.0)})
    name, params = parsed(args)
    assert name == "vectorize" and params["raster"] == "p.tif" and params["overwrite"]
    assert options_of(params) == PredictOptions(threshold=0.7, separate=False, bbox=(0.0, 0.0, 10.0, 10.0))


def test_batch_commands_are_read_as_meant():
    args = runner.batch_command("/bin/geoseg", "in", "out", {"model": "eunet-buildings"}, pattern="*.jp2",
                                recursive=True, merge="all.gpkg")
    name, params = parsed(args)
    assert name == "batch" and (params["input_dir"], params["output_dir"], params["pattern"]) == ("in", "out", "*.jp2")
    assert params["recursive"] and params["merge"] == "all.gpkg" and params["wait"]
    assert options_of(params) == PredictOptions(model="eunet-buildings")


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


def test_remote_layer_sources_are_readable_and_get_an_output_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    url = "/vsicurl/https://data.example/oam/2024/scene.tif?sig=abc"
    assert runner.readable_source(url) and runner.readable_source("/vsis3/bucket/key.tif")
    assert not runner.readable_source(str(tmp_path / "missing.tif"))
    assert runner.output_beside(url, "_buildings.gpkg") == str(tmp_path / "scene_buildings.gpkg")
    assert runner.output_beside("/data/a.tif", "_buildings.gpkg") == "/data/a_buildings.gpkg"
    args = runner.predict_command("/bin/geoseg", url, "out.gpkg")
    assert parsed(args)[1]["scene"] == url  # unchanged on its way to the CLI


def test_tile_layers_become_what_geoseg_reads():
    xyz = "type=xyz&url=https://tiles.example/%7Bz%7D/%7Bx%7D/%7By%7D.jpg?key%3Dabc&zmax=19&zmin=0"
    assert runner.layer_scene("wms", xyz) == "https://tiles.example/{z}/{x}/{y}.jpg?key=abc"
    wmts = ("contextualWMSLegend=0&crs=EPSG:3857&dpiMode=7&featureCount=10&format=image/jpeg&layers=ortho"
            "&styles=default&tileMatrixSet=GoogleMapsCompatible&url=https://wmts.example/WMTSCapabilities.xml")
    assert runner.layer_scene("wms", wmts) == ("WMTS:https://wmts.example/WMTSCapabilities.xml,layer=ortho,"
                                               "tilematrixset=GoogleMapsCompatible,style=default")
    plain_wms = "crs=EPSG:4326&format=image/png&layers=roads&styles=&url=https://maps.example/wms"
    assert runner.layer_scene("wms", plain_wms) is None and runner.layer_scene("postgresraster", "x") is None


def test_compare_and_predict_compare_arguments_parse_as_the_cli_reads_them():
    command, params = parsed(runner.compare_command("/bin/geoseg", "found.gpkg", "osm.gpkg", "c.gpkg",
                                                    {"match": "overlap", "min_iou": 0.3, "osm": "new.geojson"}))
    assert command == "compare" and params["existing"] == "osm.gpkg" and params["rule"] == "overlap"
    assert params["min_iou"] == 0.3 and params["osm"] == "new.geojson" and params["overwrite"]
    command, params = parsed(runner.predict_command("/bin/geoseg", "s.tif", "b.gpkg",
                                                    {"compare": "m.gpkg", "changes": "b_changes.gpkg"}))
    assert params["existing"] == "m.gpkg" and params["changes"] == "b_changes.gpkg"
