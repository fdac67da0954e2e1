"""Every output says where it came from: model, weights digest, settings, scene, imagery date."""

import json

import pyogrio
import pytest
import rasterio
from click.testing import CliRunner
from conftest import rectangles_scene, write_scene

from geoseg.cli import cli
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.vectorize.revectorize import vectorize_raster
from geoseg.write.info import output_info
from geoseg.write.provenance import Provenance, imagery_date, parse_date


@pytest.mark.parametrize("text, date", [
    ("2016:05:04 12:00:00", "2016-05-04"), ("2016-05-04T12:00:00.5Z", "2016-05-04"), ("20160504", "2016-05-04"),
    ("2016-13-04", None), ("yesterday", None), ("", None)])
def test_dates_as_tiff_iso_and_compact_text(text, date):
    assert parse_date(text) == date


def test_an_acquisition_date_wins_over_the_file_date():
    assert imagery_date({"TIFFTAG_DATETIME": "2020:01:01 00:00:00", "AcquisitionDateTime": "2018-07-09T10:11:12Z"}) == (
        "2018-07-09", "ACQUISITIONDATETIME")
    assert imagery_date({"TIFFTAG_DATETIME": "2020:01:01 00:00:00"}) == ("2020-01-01", "TIFFTAG_DATETIME")
    assert imagery_date({"OTHER": "1"}) == (None, None)


@pytest.fixture
def dated_run(tmp_path, bright_predictor):
    bright_predictor.digest = "feedc0ffee123456"
    scene = write_scene(tmp_path / "town.tif", rectangles_scene(128, 128, [(10, 10, 30, 40), (60, 60, 90, 80)]))
    with rasterio.open(scene, "r+") as dst:
        dst.update_tags(TIFFTAG_DATETIME="2019:08:17 10:30:00")
    predict(scene, tmp_path / "b.gpkg", PredictOptions(threshold=0.6, min_area=5.0), raster=tmp_path / "p.tif",
            predictor=bright_predictor)
    return tmp_path


def test_geopackage_metadata_raster_tags_and_columns(dated_run):
    meta = pyogrio.read_info(dated_run / "b.gpkg")["layer_metadata"]
    made = Provenance.from_metadata(meta)
    assert (made.model, made.model_digest, made.threshold, made.source) == ("test-net", "feedc0ffee123456", 0.6, "town.tif")
    assert made.imagery_date == "2019-08-17" and made.imagery_date_tag == "TIFFTAG_DATETIME"
    assert made.shaping["min_area_m2"] == 5.0 and made.area_wkt.startswith("POLYGON ((500128 4599872")
    frame = pyogrio.read_dataframe(dated_run / "b.gpkg")
    assert len(frame) == 2 and set(frame["model"]) == {"test-net@feedc0ffee123456"}
    assert set(frame["source"]) == {"town.tif"} and set(frame["image_date"]) == {"2019-08-17"}
    with rasterio.open(dated_run / "p.tif") as src:
        assert Provenance.from_metadata(src.tags()) == made


def test_revectorising_keeps_the_run_and_records_the_new_threshold(dated_run):
    vectorize_raster(dated_run / "p.tif", dated_run / "again.shp", PredictOptions(threshold=0.8))
    info = output_info(dated_run / "again.shp")  # no layer metadata in a shapefile: the columns say it
    assert info["provenance"] == {"source": "town.tif", "model": "test-net@feedc0ffee123456", "image_date": "2019-08-17"}
    vectorize_raster(dated_run / "p.tif", dated_run / "again.gpkg", PredictOptions(threshold=0.8))
    assert output_info(dated_run / "again.gpkg")["provenance"]["threshold"] == 0.8


def test_info_prints_it(dated_run):
    shown = CliRunner().invoke(cli, ["info", str(dated_run / "b.gpkg")])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].endswith("vector, CRS EPSG:32633, buildings: 2 features")
    assert "  imagery_date      2019-08-17" in lines and "  model_digest      feedc0ffee123456" in lines
    as_json = json.loads(CliRunner().invoke(cli, ["info", str(dated_run / "p.tif"), "--json"]).output)
    assert as_json["kind"] == "raster" and as_json["provenance"]["source"] == "town.tif"
