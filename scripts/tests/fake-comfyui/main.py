"""A tiny stand-in for ComfyUI used by the host set-up script's end-to-end test.

It accepts ComfyUI's `--listen` and `--port` options and serves the few read-only endpoints a
connection test touches (`/system_stats`, `/models`, `/object_info`, `/queue`) with the same
shapes as the recordings in fixtures/comfyui/recorded/. Standard library only, loopback only.
"""

import argparse
import base64
import hashlib
import json
import os
import platform
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.abspath(__file__))


def system_stats(argv):
    return {
        "system": {
            "os": os.name,
            "ram_total": 25276063744,
            "ram_free": 23308169216,
            "comfyui_version": "0.0.0-fake",
            "required_frontend_version": "1.27.10",
            "python_version": sys.version,
            "pytorch_version": "none (fake ComfyUI)",
            "embedded_python": False,
            "argv": argv,
        },
        "devices": [
            {
                "name": "cpu",
                "type": "cpu",
                "index": None,
                "vram_total": 0,
                "vram_free": 0,
                "torch_vram_total": 0,
                "torch_vram_free": 0,
            }
        ],
    }


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_text_frame(text):
    """One unmasked, final WebSocket text frame (server to client)."""
    data = text.encode()
    if len(data) < 126:
        header = bytes([0x81, len(data)])
    else:
        header = bytes([0x81, 126]) + len(data).to_bytes(2, "big")
    return header + data


class Handler(BaseHTTPRequestHandler):
    argv = []
    # ComfyUI (aiohttp) speaks HTTP/1.1; a WebSocket upgrade needs it.
    protocol_version = "HTTP/1.1"

    def _websocket(self):
        """Accept the upgrade like ComfyUI's /ws and send its first `status` message."""
        key = self.headers.get("Sec-WebSocket-Key")
        if not key or self.headers.get("Upgrade", "").lower() != "websocket":
            self._json({"error": "expected a WebSocket upgrade"}, 400)
            return
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        sid = "fake-sid"
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        for part in query.split("&"):
            if part.startswith("clientId="):
                sid = part[len("clientId="):]
        status = {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": sid}}
        self.wfile.write(ws_text_frame(json.dumps(status)))
        self.wfile.flush()
        # Close: a close frame with status 1000, then end the connection.
        self.wfile.write(bytes([0x88, 2, 0x03, 0xE8]))
        self.wfile.flush()
        self.close_connection = True

    def _json(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server API)
        path = self.path.split("?", 1)[0]
        if path in ("/ws", "/api/ws"):
            self._websocket()
        elif path in ("/system_stats", "/api/system_stats"):
            self._json(system_stats(self.argv))
        elif path in ("/models", "/api/models"):
            self._json(sorted(os.listdir(os.path.join(ROOT, "models"))))
        elif path in ("/object_info", "/api/object_info"):
            self._json({})
        elif path in ("/queue", "/api/queue"):
            self._json({"queue_running": [], "queue_pending": []})
        elif path == "/":
            body = b"<!doctype html><title>ComfyUI (fake)</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._json({"error": "not found", "path": path}, 404)

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-comfyui: " + (fmt % args) + "\n")


def main():
    parser = argparse.ArgumentParser(description="fake ComfyUI")
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args()
    Handler.argv = ["main.py"] + sys.argv[1:]
    server = ThreadingHTTPServer((args.listen, args.port), Handler)
    print(f"fake ComfyUI ({platform.python_version()}) on http://{args.listen}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
