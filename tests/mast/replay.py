"""A local stand-in for MAST: replays recorded API responses, serves simulated files.

It answers the three kinds of request astroquery's real client code makes:

- ``POST /portal/Mashup/Mashup.asmx/columnsconfig`` (form field ``colConfigId``) →
  ``tests/data/mast/columnsconfig/<id>.json``;
- ``POST /api/v0/invoke`` (form field ``request``: JSON with ``service``, ``params``,
  ``format``, ``pagesize``, ``page``) → for ``Mast.Caom.Filtered`` the dataset named by the
  ``obs_id`` filter, ``<dataset>/observations.json`` (or ``no_results.json``); for
  ``Mast.Caom.Products`` the dataset whose observation has that ``obsid``,
  ``<dataset>/products.json``;
- ``HEAD``/``GET /api/v0.1/Download/file?uri=mast:HST/product/<name>`` → the file registered
  under that name (404 otherwise).

``errors`` maps ``"invoke"``, ``"columnsconfig"`` or ``"download:<name>"`` to an HTTP status
to answer instead. ``requests`` records what was asked.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "mast"


class MastReplay:
    def __init__(self, fixtures: Path = FIXTURES):
        self.fixtures = fixtures
        self.files: dict[str, Path] = {}
        self.errors: dict[str, int] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.obsids = self._index()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> MastReplay:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def serve(self, *paths: Path) -> None:
        """Make files downloadable as ``mast:HST/product/<their name>``."""
        for p in paths:
            self.files[Path(p).name] = Path(p)

    def _index(self) -> dict[str, str]:
        """obsid → dataset directory, from the recorded observation queries."""
        index = {}
        for f in self.fixtures.glob("*/observations.json"):
            for row in json.loads(f.read_text())["data"]:
                index[str(row["obsid"])] = f.parent.name
        return index

    def recorded(self, service: str, params: dict) -> Path | None:
        if service == "Mast.Caom.Filtered":
            values = [v for flt in params.get("filters", []) if flt.get("paramName") == "obs_id"
                      for v in flt.get("values", [])]
            path = self.fixtures / str(values[0]).lower() / "observations.json" if values else None
            return path if path is not None and path.is_file() else self.fixtures / "no_results.json"
        if service == "Mast.Caom.Products":
            names = {self.obsids.get(o.strip()) for o in str(params.get("obsid", "")).split(",")}
            names.discard(None)
            return self.fixtures / names.pop() / "products.json" if len(names) == 1 else None
        return None

    def _handler(self):
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes = b"", ctype: str = "application/json", head=False):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _error(self, key: str) -> bool:
                status = replay.errors.get(key)
                if status:
                    self._send(status, json.dumps({"status": "ERROR", "msg": f"replayed {status}"}).encode())
                return bool(status)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                path = urlsplit(self.path).path
                if path.endswith("/portal/Mashup/Mashup.asmx/columnsconfig"):
                    name = form.get("colConfigId", [""])[0]
                    replay.requests.append(("POST", "columnsconfig", name))
                    if self._error("columnsconfig"):
                        return
                    f = replay.fixtures / "columnsconfig" / f"{name}.json"
                    return self._send(200, f.read_bytes()) if f.is_file() else self._send(404)
                if path.endswith("/api/v0/invoke"):
                    request = json.loads(form.get("request", ["{}"])[0])
                    service = request.get("service", "")
                    replay.requests.append(("POST", "invoke", service))
                    if self._error("invoke"):
                        return
                    f = replay.recorded(service, request.get("params", {}))
                    return self._send(200, f.read_bytes()) if f else self._send(400)
                self._send(404)

            def _download(self, head: bool):
                parts = urlsplit(self.path)
                if not parts.path.endswith("/api/v0.1/Download/file"):
                    return self._send(404, head=head)
                uri = unquote(parse_qs(parts.query).get("uri", [""])[0])
                name = uri.rsplit("/", 1)[-1]
                replay.requests.append((self.command, "download", name))
                status = replay.errors.get(f"download:{name}")
                if status:
                    return self._send(status, b"replayed error", "text/plain", head=head)
                f = replay.files.get(name)
                if not uri.startswith("mast:HST/product/") or f is None:
                    return self._send(404, b"file not found", "text/plain", head=head)
                self._send(200, f.read_bytes(), "application/octet-stream", head=head)

            def do_HEAD(self):
                self._download(head=True)

            def do_GET(self):
                self._download(head=False)

        return Handler
