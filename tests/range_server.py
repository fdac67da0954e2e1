"""A loopback HTTP server for remote-read tests: it answers HEAD and single-range GET requests
(as object stores and web servers do, and as GDAL asks) and counts the bytes it sends."""

from __future__ import annotations

import re
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from loopback import LoopbackServer


class RangeServer(LoopbackServer):
    """Serve the files of ``root`` at ``self.url``; ``sent[name]`` counts the body bytes sent."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.sent: Counter[str] = Counter()
        super().__init__(_handler(self))


def _handler(server: RangeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            path = server.root / self.path.lstrip("/").split("?")[0]
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            asked = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
            if asked:
                start, end = int(asked[1]), min(int(asked[2] or len(data) - 1), len(data) - 1)
                part = data[start:end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                part = data
                self.send_response(200)
            self.send_header("Content-Length", str(len(part)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if body:
                self.wfile.write(part)
                server.sent[path.name] += len(part)

    return Handler
