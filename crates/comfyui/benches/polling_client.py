#!/usr/bin/env python3
"""The simplest possible ComfyUI client, as the benchmark peer: urllib + history polling.

Usage: polling_client.py BASE_URL RUNS POLL_SECONDS WORKFLOW_JSON
For each run: POST /prompt (with a fresh filename_prefix and color so nothing is cached), poll
GET /history/<id> every POLL_SECONDS until the entry appears, then GET /view the first image.
Prints one JSON object: per-run wall times (s) and completion-detection latencies (ms, detection
time minus the server's execution_success timestamp).
"""
import json
import sys
import time
import urllib.parse
import urllib.request
import uuid


def main():
    base, runs, poll, workflow_path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    with open(workflow_path) as f:
        workflow = json.load(f)
    client_id = str(uuid.uuid4())
    walls, latencies, sizes = [], [], []
    for i in range(runs):
        prompt = json.loads(json.dumps(workflow))
        prompt["3"]["inputs"]["filename_prefix"] = f"py_{client_id[:8]}_{i}"
        prompt["1"]["inputs"]["color"] = i
        start = time.perf_counter()
        body = json.dumps({"prompt": prompt, "client_id": client_id}).encode()
        req = urllib.request.Request(base + "/prompt", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            prompt_id = json.load(r)["prompt_id"]
        while True:
            with urllib.request.urlopen(f"{base}/history/{prompt_id}") as r:
                history = json.load(r)
            if prompt_id in history:
                detected_ms = time.time() * 1000.0
                break
            time.sleep(poll)
        entry = history[prompt_id]
        success = [m[1]["timestamp"] for m in entry["status"]["messages"] if m[0] == "execution_success"]
        image = entry["outputs"]["3"]["images"][0]
        query = urllib.parse.urlencode({"filename": image["filename"], "subfolder": image["subfolder"], "type": image["type"]})
        with urllib.request.urlopen(f"{base}/view?{query}") as r:
            data = r.read()
        walls.append(time.perf_counter() - start)
        latencies.append(detected_ms - success[0])
        sizes.append(len(data))
    print(json.dumps({"walls": walls, "latencies_ms": latencies, "sizes": sizes}))


if __name__ == "__main__":
    main()
