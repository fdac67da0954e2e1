"""``--raster-format cog``: the probability raster as a Cloud-Optimised GeoTIFF, checked the way
GDAL's COG validator checks one (tiles, overviews, every header before any data, the smallest
overview's data first), with its mask, tags and colours kept."""

import numpy as np
import pyogrio
import pytest
import rasterio
from conftest import rectangles_scene, write_scene

from geoseg.errors import GeosegError
from geoseg.options import PredictOptions
from geoseg.pipeline import predict
from geoseg.vectorize.revectorize import vectorize_raster

BOXES = [(100, 100, 140, 180), (900, 1000, 950, 1100), (600, 300, 660, 330)]
TILES = PredictOptions(tile_size=256, overlap=32)


def cog_errors(path) -> list[str]:
    """What keeps ``path`` from being a COG, following GDAL's validate_cloud_optimized_geotiff."""
    errors = []
    with rasterio.open(path) as src:
        if src.driver != "GTiff":
            return [f"driver {src.driver}"]
        if src.block_shapes[0][1] == src.width and src.width > 512:
            errors.append("not tiled")
        levels = src.overviews(1)
        if max(src.width, src.height) > 512 and not levels:
            errors.append("no overviews")
        tag = lambda name, ovr=None: int(src.get_tag_item(name, "TIFF", bidx=1, ovr=ovr))  # noqa: E731
        ifds = [tag("IFD_OFFSET")] + [tag("IFD_OFFSET", i) for i in range(len(levels))]
        data = [tag("BLOCK_OFFSET_0_0")] + [tag("BLOCK_OFFSET_0_0", i) for i in range(len(levels))]
        if ifds != sorted(ifds):
            errors.append("the overviews' headers come before the image's")
        if max(ifds) > min(data):
            errors.append("a header comes after image data")
        if data != sorted(data, reverse=True):
            errors.append("the data is not ordered from the smallest overview to the full image")
    with open(path, "rb") as f:
        if b"LAYOUT=IFDS_BEFORE_DATA" not in f.read(1024):
            errors.append("no COG layout marker")
    return errors


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    data = rectangles_scene(1200, 1300, BOXES)
    data[:, 1000:, 1100:] = 0  # no data in a corner
    return write_scene(tmp_path_factory.mktemp("cog") / "s.tif", data, nodata=0)


def test_a_cog_raster_is_valid_and_holds_what_the_geotiff_holds(scene, tmp_path, bright_predictor):
    area = PredictOptions(tile_size=256, overlap=32, bbox=(500050.0, 4598700.0, 501200.0, 4599950.0))
    predict(scene, tmp_path / "a.gpkg", area, raster=tmp_path / "p.tif", predictor=bright_predictor)
    predict(scene, tmp_path / "b.gpkg", area, raster=tmp_path / "p_cog.tif", raster_format="cog",
            predictor=bright_predictor)
    assert cog_errors(tmp_path / "p_cog.tif") == []
    assert cog_errors(tmp_path / "p.tif")  # the streamed GeoTIFF is not one: the checker can fail
    with rasterio.open(tmp_path / "p.tif") as tif, rasterio.open(tmp_path / "p_cog.tif") as cog:
        assert cog.crs == tif.crs and cog.transform == tif.transform and cog.overviews(1) == [2, 4, 8]
        assert np.array_equal(cog.read(1), tif.read(1)) and np.array_equal(cog.read_masks(1), tif.read_masks(1))
        assert (cog.read_masks(1)[950:, 1050:] == 0).all()  # the corner without data: masked in both
        assert cog.tags()["GEOSEG_THRESHOLD"] == tif.tags()["GEOSEG_THRESHOLD"]
        assert cog.descriptions == tif.descriptions
    vectorize_raster(tmp_path / "p_cog.tif", tmp_path / "again.gpkg")
    again, first = pyogrio.read_dataframe(tmp_path / "again.gpkg"), pyogrio.read_dataframe(tmp_path / "b.gpkg")
    assert len(again) == len(first) == 3 and sorted(again.area) == sorted(first.area)


def test_a_multiclass_cog_keeps_its_colours_and_picks_class_ids_for_overviews(scene, tmp_path):
    from test_pipeline import _three_level_predictor

    predict(scene, raster=tmp_path / "c.tif", raster_format="cog", predictor=_three_level_predictor(), options=TILES)
    assert cog_errors(tmp_path / "c.tif") == []
    with rasterio.open(tmp_path / "c.tif") as cog:
        assert cog.colormap(1)[1] == (128, 0, 0, 255)
        overview = cog.read(1, out_shape=(cog.height // 2, cog.width // 2))
        assert set(np.unique(overview)) <= {0, 1, 3}  # ids, never averages of ids


def test_an_unknown_raster_format_is_refused_before_anything_runs(scene, tmp_path, bright_predictor):
    with pytest.raises(GeosegError, match="unknown raster format 'jpeg'"):
        predict(scene, raster=tmp_path / "p.tif", raster_format="jpeg", predictor=bright_predictor)
    assert list(tmp_path.iterdir()) == []
