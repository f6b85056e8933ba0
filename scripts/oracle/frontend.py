"""Runs the real ComfyUI frontend in Debian's headless Chromium and records, for each UI workflow,
what `app.graphToPrompt()` produces after `app.loadGraphData(...)`.

Usage: python frontend.py --static DIR [--templates DIR] --out DIR UI.json...
Writes OUT/<stem>.api.json (the prompt's `output`) or OUT/<stem>.error.txt (the frontend threw).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

import server

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Loads one workflow into a fresh graph and converts it; a throw becomes {error}.
CONVERT_JS = """
async (wf) => {
  const app = window.comfyAPI.app.app;
  try {
    await app.loadGraphData(wf, true, true, null, {
      showMissingNodesDialog: false,
      showMissingModelsDialog: false,
      checkForRerouteMigration: false,
    });
  } catch (e) {
    return { error: 'load: ' + String(e && e.stack || e) };
  }
  try {
    const p = await app.graphToPrompt();
    return { output: p.output };
  } catch (e) {
    return { error: String(e && e.name) + ': ' + String(e && e.message || e) };
  }
}
"""


# Inputs per browser session.
CHUNK = 150


def convert_one(page, path: Path, out: Path, counts: dict) -> None:
    """Converts one workflow in the loaded page; writes its answer or the error it threw."""
    wf = json.loads(path.read_text())
    res = page.evaluate(CONVERT_JS, wf)
    stem = path.name.removesuffix(".json").removesuffix(".ui")
    if "output" in res:
        (out / f"{stem}.api.json").write_text(json.dumps(res["output"], indent=1) + "\n")
        (out / f"{stem}.error.txt").unlink(missing_ok=True)
        counts["ok"] += 1
    else:
        (out / f"{stem}.error.txt").write_text(res["error"] + "\n")
        (out / f"{stem}.api.json").unlink(missing_ok=True)
        counts["error"] += 1


def convert_all(static: Path, templates: Path | None, out: Path, inputs: list[Path]) -> dict:
    """Converts every input with the frontend; returns {loaded routes, counts}."""
    out.mkdir(parents=True, exist_ok=True)
    httpd, routes = server.start(static, templates)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    counts = {"ok": 0, "error": 0}
    console: list[str] = []
    with sync_playwright() as pw:
        # A fresh browser every CHUNK inputs: one page slows down as graphs (and the group node
        # types they register) pile up.
        for start in range(0, len(inputs), CHUNK):
            chunk = inputs[start : start + CHUNK]
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.goto(url)
            page.wait_for_function(
                "() => window.comfyAPI && window.comfyAPI.app && window.comfyAPI.app.app "
                "&& window.comfyAPI.app.app.graph && window.comfyAPI.app.app.vueAppReady !== false",
                timeout=120_000,
            )
            page.wait_for_timeout(2000)
            for i, path in enumerate(chunk, start):
                convert_one(page, path, out, counts)
                if (i + 1) % 100 == 0:
                    print(f"  {i + 1}/{len(inputs)}", file=sys.stderr)
            browser.close()
    httpd.shutdown()
    missing = sorted({p.split("?", 1)[0] for (m, p, s) in routes.log if s == 404})
    old = out / "_server_log.json"
    if old.exists():
        missing = sorted(set(missing) | set(json.loads(old.read_text())["not_found"]))
    (out / "_server_log.json").write_text(
        json.dumps({"not_found": missing, "requests": routes.log}, indent=1)
    )
    (out / "_console.txt").write_text("\n".join(console))
    return {"not_found": missing, **counts}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--static", type=Path, required=True)
    ap.add_argument("--templates", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("inputs", type=Path, nargs="+")
    a = ap.parse_args()
    print(json.dumps(convert_all(a.static, a.templates, a.out, a.inputs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
