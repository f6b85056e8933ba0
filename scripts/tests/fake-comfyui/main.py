"""A tiny stand-in for ComfyUI used by the host set-up script's end-to-end test.

It accepts ComfyUI's `--listen` and `--port` options and serves the few read-only endpoints a
connection test touches (`/system_stats`, `/models`, `/object_info`, `/queue`) with the same
shapes as the recordings in fixtures/comfyui/recorded/. Standard library only, loopback only.
"""

import argparse
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


class Handler(BaseHTTPRequestHandler):
    argv = []

    def _json(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server API)
        path = self.path.split("?", 1)[0]
        if path in ("/system_stats", "/api/system_stats"):
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
