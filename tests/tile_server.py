"""A loopback XYZ tile server for tile-service tests (plain standard library, so QGIS's own
Python can use it too): it serves the tiles it is given and counts the requests."""

from __future__ import annotations

from collections import Counter
from http.server import BaseHTTPRequestHandler

from loopback import LoopbackServer


class TileServer(LoopbackServer):
    """Serves ``tiles`` (URL path, e.g. ``/18/47207/102787.png``, to bytes) at ``self.template``
    (``http://127.0.0.1:PORT/{z}/{x}/{y}.png``); ``requests`` counts each path asked for.
    A path it does not hold gets a 404; bytes that start with ``<`` are sent as HTML."""

    def __init__(self, tiles: dict[str, bytes]) -> None:
        self.tiles, self.requests = tiles, Counter()
        super().__init__(_handler(self))
        self.template = self.url + "/{z}/{x}/{y}.png"


def _handler(server: TileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            server.requests[self.path] += 1
            body = server.tiles.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "text/html" if body.startswith(b"<") else "image/png")
            self.end_headers()
            self.wfile.write(body)

    return Handler


def tile_index(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    """The XYZ column and row of the tile holding (``lon``, ``lat``) at ``zoom``."""
    import math

    n = 2**zoom
    col = int((lon + 180.0) / 360.0 * n)
    row = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return col, row
