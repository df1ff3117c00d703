"""The explorer's web server: the page's static files and a JSON endpoint, standard library only.

Routes:
    GET  /                      the page (``static/index.html``); settings live in the URL query
    GET  /static/NAME           the page's own script and style (no CDN, works offline)
    GET  /api/digits            `views.digit_patterns`
    POST /api/damage            `views.damage`            {pattern, fraction, seed}
    POST /api/recall            `views.hopfield_recall`   {patterns, cue, rule, max_steps}
    POST /api/capacity          `views.capacity_curve`    {n_units, max_load, n_loads, ...}
    POST /api/kuramoto          `views.kuramoto`          {n, coupling, width, duration, seed}
    POST /api/kuramoto/sweep    `views.kuramoto_sweep`    {n, width, max_ratio, n_couplings}
    POST /api/train             a new `views.TrainingSession` {dataset, layers, learning_rate,
                                activation, seed}; returns its id and its first epochs
    POST /api/train/ID          {epochs}: train that session further

A bad setting answers 400 with the check's message; the server listens on 127.0.0.1 only.

Example (shell)::

    engram explore                      # http://127.0.0.1:8765/ , opens a browser
    engram explore --port 0 --no-browser
"""

from __future__ import annotations

import itertools
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from engram.explore import views

STATIC = {
    "index.html": "text/html; charset=utf-8",
    "explore.js": "text/javascript; charset=utf-8",
    "explore.css": "text/css; charset=utf-8",
}
MAX_BODY = 1 << 20
MAX_SESSIONS = 32
_ROUTES = {
    "/api/damage": views.damage,
    "/api/recall": views.hopfield_recall,
    "/api/capacity": views.capacity_curve,
    "/api/kuramoto": views.kuramoto,
    "/api/kuramoto/sweep": views.kuramoto_sweep,
}


class ExploreServer(ThreadingHTTPServer):
    """A threading HTTP server holding the training sessions of the page."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)
        self.sessions: dict[str, views.TrainingSession] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def new_session(self, settings: dict[str, Any]) -> str:
        layers = settings.pop("layers", (8, 8))
        if isinstance(layers, str):
            layers = [int(u) for u in layers.split(",") if u.strip()]
        session = views.TrainingSession(layers=tuple(layers), **settings)
        with self._lock:
            key = str(next(self._ids))
            self.sessions[key] = session
            while len(self.sessions) > MAX_SESSIONS:  # forget the oldest
                self.sessions.pop(next(iter(self.sessions)))
        return key


class Handler(BaseHTTPRequestHandler):
    server: ExploreServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no line per request
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        name = "index.html" if path == "/" else path.removeprefix("/static/")
        if path == "/api/digits":
            self._json(HTTPStatus.OK, views.digit_patterns())
        elif name in STATIC and (path == "/" or path.startswith("/static/")):
            body = resources.files("engram.explore").joinpath("static", name).read_bytes()
            self._send(HTTPStatus.OK, body, STATIC[name])
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"No page at {path}."})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "Request too large."})
            return
        try:
            settings = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(settings, dict):
                raise ValueError("The request body must be a JSON object of settings.")
            if path in _ROUTES:
                payload = _ROUTES[path](**settings)
            elif path == "/api/train":
                epochs = int(settings.pop("epochs", 5))
                key = self.server.new_session(settings)
                payload = {"session": key, **self.server.sessions[key].advance(epochs)}
            elif path.startswith("/api/train/"):
                session = self.server.sessions.get(path.removeprefix("/api/train/"))
                if session is None:
                    self._json(HTTPStatus.NOT_FOUND, {"error": "No such training session."})
                    return
                payload = session.advance(int(settings.get("epochs", 5)))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"No endpoint at {path}."})
                return
        except (ValueError, TypeError) as exc:  # bad settings: the check's own message
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, payload)


def make_server(port: int = 8765, host: str = "127.0.0.1") -> ExploreServer:
    """A server bound to ``host:port`` (port 0 picks a free one); call ``serve_forever()``."""
    return ExploreServer((host, port))
