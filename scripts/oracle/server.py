"""A ComfyUI stand-in for the oracle: the frontend's static files plus every route the frontend
calls while it loads, answered from the recordings in fixtures/comfyui (ComfyUI 0.3.64).

Routes without a recording answer as ComfyUI 0.3.64 does for a fresh single-user install with
no custom nodes and no saved settings (empty settings, no user workflows, no custom-node
templates or translations). Every request is logged with its status, so a route the frontend
needs and the server lacks shows up as a 404 in the log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "comfyui"


def recorded(name: str):
    """The response body of one recorded request/response pair."""
    return json.loads((FIXTURES / "recorded" / name).read_text())["response"]["body"]


def upload_answer(body: bytes) -> dict:
    """`POST /upload/image`'s answer (post_upload_image.json): the file's name, its subfolder
    and type, read from the multipart form (nothing is stored)."""
    fields = {}
    for m in re.finditer(rb'name="([^"]*)"(?:; filename="([^"]*)")?\r\n(?:[^\r\n]*\r\n)*?\r\n', body):
        key = m.group(1).decode(errors="replace")
        if m.group(2) is not None:
            fields["filename"] = m.group(2).decode(errors="replace")
        else:
            end = body.find(b"\r\n--", m.end())
            fields[key] = body[m.end() : end].decode(errors="replace")
    return {
        "name": fields.get("filename", "upload.png"),
        "subfolder": fields.get("subfolder", ""),
        "type": fields.get("type", "input"),
    }


def recorded_ws(name: str):
    """The message exchange of one recorded WebSocket session."""
    return json.loads((FIXTURES / "recorded" / name).read_text())["exchange"]


class Routes:
    """The answers, loaded once."""

    def __init__(self, static: Path, templates: Path | None):
        self.static = static.resolve()
        self.templates = templates.resolve() if templates else None
        self.object_info = (FIXTURES / "object_info.json").read_bytes()
        self.fixed = {
            "/system_stats": recorded("get_system_stats.json"),
            "/features": recorded("get_features.json"),
            "/extensions": recorded("get_extensions.json"),
            "/embeddings": recorded("get_embeddings.json"),
            "/models": recorded("get_models.json"),
            "/queue": recorded("get_queue_idle.json"),
            "/history": {},
            "/prompt": {"exec_info": {"queue_remaining": 0}},
            # user_manager.py, single-user mode, user directory present.
            "/users": {"storage": "server", "migrated": True},
            "/settings": {},
            "/i18n": {},
            "/workflow_templates": {},
            "/experiment/models": [],
            "/internal/logs/raw": {"entries": [], "size": {"cols": 80, "rows": 24}},
            "/internal/folder_paths": {},
        }
        self.log: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def file(self, path: str) -> Path | None:
        """A static file under the frontend (or /templates/ under the templates package)."""
        root, rel = self.static, path.lstrip("/")
        if path.startswith("/templates/") and self.templates:
            root, rel = self.templates, path[len("/templates/") :]
        if rel == "":
            rel = "index.html"
        p = (root / rel).resolve()
        if root not in p.parents and p != root:
            return None
        return p if p.is_file() else None


class Handler(BaseHTTPRequestHandler):
    routes: Routes

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)
        with self.routes.lock:
            self.routes.log.append((self.command, self.path, status))

    def _json(self, value, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode())

    def _api_path(self) -> str:
        path = unquote(urlsplit(self.path).path)
        if path.startswith("/api/"):
            return path[4:]
        return path

    def do_GET(self):  # noqa: N802 - http.server naming
        r = self.routes
        path = self._api_path()
        if path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        if path == "/object_info":
            return self._send(200, r.object_info)
        if path.startswith("/object_info/"):
            info = json.loads(r.object_info)
            name = path[len("/object_info/") :]
            return self._json({name: info[name]} if name in info else {})
        if path in r.fixed:
            return self._json(r.fixed[path])
        if path.startswith("/settings/"):
            return self._json(None)
        if path == "/userdata":
            return self._json([])
        if path == "/v2/userdata":
            return self._json([])
        if path.startswith("/userdata/"):
            return self._send(404, b"", "text/plain")
        if path.startswith("/models/"):
            return self._json([])
        f = r.file(path)
        if f is None:
            return self._send(404, b"404: Not Found", "text/plain")
        ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
        if f.suffix == ".js":
            ctype = "application/javascript"
        return self._send(200, f.read_bytes(), ctype)

    def _websocket(self) -> None:
        """`/ws`: the recorded handshake (a `status` message with the client's sid, and the
        `feature_flags` answer when the client sends its flags), then silence until closed."""
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC11B85").encode()).digest()
        ).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        with self.routes.lock:
            self.routes.log.append((self.command, self.path, 101))
        query = dict(
            kv.split("=", 1) for kv in urlsplit(self.path).query.split("&") if "=" in kv
        )
        exchange = recorded_ws("ws_feature_flags.json")
        status = exchange[0]["msg"]
        status["data"]["sid"] = query.get("clientId") or status["data"]["sid"]
        self._ws_send(status)
        while True:
            msg = self._ws_recv()
            if msg is None:
                return
            if msg.get("type") == "feature_flags":
                self._ws_send(exchange[2]["msg"])

    def _ws_send(self, value) -> None:
        data = json.dumps(value).encode()
        head = bytes([0x81])
        if len(data) < 126:
            head += bytes([len(data)])
        elif len(data) < 65536:
            head += bytes([126]) + struct.pack(">H", len(data))
        else:
            head += bytes([127]) + struct.pack(">Q", len(data))
        self.wfile.write(head + data)
        self.wfile.flush()

    def _ws_recv(self):
        """The next text message as JSON (other frames skipped); None once the socket closes."""
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return None
            op, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = struct.unpack(">H", self.rfile.read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            if op == 8:
                return None
            if op == 1:
                try:
                    return json.loads(payload)
                except ValueError:
                    continue

    def do_POST(self):  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path = self._api_path()
        if path.startswith("/settings"):
            return self._json({})
        if path.startswith("/userdata/"):
            return self._json(path[len("/userdata/") :])
        if path in ("/upload/image", "/upload/mask"):
            return self._json(upload_answer(body))
        return self._send(404, b"404: Not Found", "text/plain")


def start(static: Path, templates: Path | None) -> tuple[ThreadingHTTPServer, Routes]:
    """Starts the server on a free loopback port in a background thread."""
    routes = Routes(static, templates)
    handler = type("BoundHandler", (Handler,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, routes
