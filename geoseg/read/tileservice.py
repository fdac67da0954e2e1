"""Online basemaps as scenes: XYZ/TMS tile URLs (``https://host/{z}/{x}/{y}.jpg``) and GDAL's
own WMS/WMTS descriptions (a ``<GDAL_WMS>``/``<GDAL_WMTS>`` file or text, ``WMTS:``/``WMS:``
connection strings).

A tile service covers the whole world, so a run needs an area (``--bbox``/``--aoi``). geoseg
writes two small files into its cache: a GDAL WMS description at the zoom level whose pixels
match the model's (for a URL template), and a VRT that cuts it to the tiles over the area. The
VRT is the scene the pipeline reads: GDAL fetches only the tiles a read touches, at most
:data:`CONNECTIONS` at a time, retrying failures (``GDAL_HTTP_MAX_RETRY``), and keeps them in an
on-disk cache, so a second run over the same area fetches nothing."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from xml.sax.saxutils import escape

from geoseg import __version__
from geoseg.errors import GeosegError

WORLD = 20037508.342789244  # half the side of the Web Mercator square, metres
EARTH_CIRCUMFERENCE = 2 * math.pi * 6378137.0
TILE = 256
MAX_ZOOM = 22
CONNECTIONS = 4  # parallel requests to one service: polite to public tile servers
GDAL_TYPES = {"uint8": "Byte", "int8": "Int8", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
              "int32": "Int32", "float32": "Float32", "float64": "Float64"}
_PLACEHOLDER = re.compile(r"\{(z|x|y|-y)\}")


def is_template(source) -> bool:
    """Whether ``source`` is an XYZ/TMS URL template (``{z}``, ``{x}`` and ``{y}`` or ``{-y}``)."""
    found = set(_PLACEHOLDER.findall(str(source)))
    return {"z", "x"} <= found and bool(found & {"y", "-y"})


def is_tile_service(source) -> bool:
    """An XYZ template, or a GDAL WMS/WMTS description or connection string."""
    text = str(source).lstrip()
    if is_template(text) or text.startswith(("<GDAL_WMS", "<GDAL_WMTS")) or text.upper().startswith(("WMTS:", "WMS:")):
        return True
    path = Path(text) if len(text) < 4096 else None
    if path is not None and path.suffix.lower() == ".xml" and path.is_file():
        return path.read_text(errors="replace")[:200].lstrip().startswith(("<GDAL_WMS", "<GDAL_WMTS"))
    return False


def ground_pixel(zoom: int, latitude: float) -> float:
    """Side of a Web Mercator pixel of ``zoom`` on the ground at ``latitude``, metres."""
    return EARTH_CIRCUMFERENCE * math.cos(math.radians(latitude)) / (TILE * 2**zoom)


def zoom_for(gsd_m: float, latitude: float) -> int:
    """The coarsest zoom whose pixels are at most 10 % coarser than ``gsd_m`` at ``latitude``
    (geoseg reads scenes within 10 % of the model's pixel size as they are)."""
    for zoom in range(MAX_ZOOM + 1):
        if ground_pixel(zoom, latitude) <= 1.1 * gsd_m:
            return zoom
    return MAX_ZOOM


def wms_description(template: str, zoom: int, cache: Path) -> str:
    """A GDAL WMS description of an XYZ (``{y}``: rows from the top) or TMS (``{-y}``: from the
    bottom) template at ``zoom``, with a tile cache in ``cache``."""
    if "{s}" in template:
        raise GeosegError("the tile URL has a {s} (server) placeholder: replace it with one server's name, e.g. 'a'")
    url = template.replace("{z}", "${z}").replace("{x}", "${x}").replace("{-y}", "${y}").replace("{y}", "${y}")
    origin = "bottom" if "{-y}" in template else "top"
    return (
        f'<GDAL_WMS><Service name="TMS"><ServerUrl>{escape(url)}</ServerUrl></Service>'
        f"<DataWindow><UpperLeftX>{-WORLD}</UpperLeftX><UpperLeftY>{WORLD}</UpperLeftY>"
        f"<LowerRightX>{WORLD}</LowerRightX><LowerRightY>{-WORLD}</LowerRightY><TileLevel>{zoom}</TileLevel>"
        f"<TileCountX>1</TileCountX><TileCountY>1</TileCountY><YOrigin>{origin}</YOrigin></DataWindow>"
        f"<Projection>EPSG:3857</Projection><BlockSizeX>{TILE}</BlockSizeX><BlockSizeY>{TILE}</BlockSizeY>"
        f"<BandsCount>3</BandsCount><MaxConnections>{CONNECTIONS}</MaxConnections>"
        f"<UserAgent>geoseg/{__version__}</UserAgent><Cache><Path>{escape(str(cache))}</Path></Cache></GDAL_WMS>"
    )


def cropped_vrt(service: str, service_path: str, bounds: tuple[float, float, float, float]) -> str:
    """A VRT of the whole blocks of the opened ``service`` (a GDAL dataset, its description at
    ``service_path``) that cover ``bounds`` (in its CRS)."""
    import rasterio
    from rasterio.windows import from_bounds

    with rasterio.open(service_path) as src:
        block_rows, block_cols = src.block_shapes[0]
        window = from_bounds(*bounds, transform=src.transform)
        col0 = max(0, math.floor(window.col_off / block_cols) * block_cols)
        row0 = max(0, math.floor(window.row_off / block_rows) * block_rows)
        col1 = min(src.width, math.ceil((window.col_off + window.width) / block_cols) * block_cols)
        row1 = min(src.height, math.ceil((window.row_off + window.height) / block_rows) * block_rows)
        if col1 <= col0 or row1 <= row0:
            raise GeosegError(f"the area lies outside what {service} covers")
        width, height = col1 - col0, row1 - row0
        t = src.transform
        x0, y0 = t * (col0, row0)
        bands = "".join(
            f'<VRTRasterBand dataType="{GDAL_TYPES[src.dtypes[i - 1]]}" band="{i}">'
            f"<ColorInterp>{src.colorinterp[i - 1].name.capitalize()}</ColorInterp><SimpleSource>"
            f'<SourceFilename relativeToVRT="0">{escape(service_path)}</SourceFilename><SourceBand>{i}</SourceBand>'
            f'<SrcRect xOff="{col0}" yOff="{row0}" xSize="{width}" ySize="{height}"/>'
            f'<DstRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/></SimpleSource></VRTRasterBand>'
            for i in src.indexes)
        srs = escape(src.crs.to_wkt())
    return (f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{srs}</SRS>'
            f"<GeoTransform>{x0!r}, {t.a!r}, 0, {y0!r}, 0, {t.e!r}</GeoTransform>{bands}</VRTDataset>")


def service_scene(source: str, area_bounds_4326: tuple[float, float, float, float] | None, gsd_m: float | None,
                  folder: Path) -> Path:
    """The scene a run reads for the tile service ``source``: a VRT in ``folder`` over the tiles
    that cover the area (given as lon/lat bounds), at the zoom that matches ``gsd_m`` for a URL
    template. One clear line when the area or the pixel size is missing."""
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.warp import transform_bounds

    if area_bounds_4326 is None:
        raise GeosegError("a tile service covers the whole world: give the area to work on with --bbox "
                          "(with --bbox-crs EPSG:4326 for lon,lat) or --aoi")
    key = hashlib.sha256(f"{source}|{area_bounds_4326}|{gsd_m}".encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    service_path = str(source).strip()
    if is_template(source):
        if gsd_m is None:
            raise GeosegError("choose the pixel size to fetch tiles at with --gsd METRES (the model card has none)")
        latitude = (area_bounds_4326[1] + area_bounds_4326[3]) / 2
        described = folder / f"service-{key}.xml"
        described.write_text(wms_description(str(source), zoom_for(gsd_m, latitude), folder / "tiles"))
        service_path = str(described)
    try:
        with rasterio.open(service_path) as src:
            crs = src.crs
        bounds = transform_bounds("EPSG:4326", crs, *area_bounds_4326, densify_pts=21)
        vrt = cropped_vrt(str(source), service_path, bounds)
    except RasterioIOError as exc:
        raise GeosegError(f"could not open the tile service {source} ({str(exc).strip().splitlines()[0]})") from None
    path = folder / f"scene-{key}.vrt"
    path.write_text(vrt)
    return path
