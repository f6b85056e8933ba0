"""Seeded random UI workflows, built inside the real frontend and saved as it saves them.

Each graph is made from the recorded object_info's node classes in the running frontend: random
nodes with random widget values (control_after_generate modes included), links between
type-compatible slots (widget inputs too), legacy Reroute nodes spliced into links,
PrimitiveNodes feeding widgets, bypassed and muted nodes, subgraphs made with
`graph.convertToSubgraph` (sometimes with a second instance wired like the first, with other
promoted widget values) and legacy group nodes made with `GroupNodeHandler.fromNodes` (the
"Convert to Group Node" command, its name dialog answered). Graph N uses seed `SEED * 100003 + N`
in a small PRNG (mulberry32), so a run is reproducible for one frontend version.

Usage: python generate.py --static DIR --out DIR --count N --seed S
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

import frontend
import server

# Classes whose widgets need hardware or upload a fresh render at conversion time (so no
# converter can reproduce the frontend's answer).
SKIP = ["WebcamCapture", "Load3D", "Load3DAnimation"]

BUILD_JS = """
async ([seed, skip, classes]) => {
  const app = window.comfyAPI.app.app;
  const LG = window.LiteGraph;
  let s = seed >>> 0;
  const rnd = () => { s = (s + 0x6D2B79F5) >>> 0; let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const chance = (p) => rnd() < p;
  app.graph.clear();
  // Group node definitions live in the graph's extra, which clear() keeps.
  if (app.graph.extra) delete app.graph.extra.groupNodes;
  // Only the server's classes: subgraph and group node types of earlier graphs stay registered.
  const defs = classes.filter((t) => LG.registered_node_types[t] && !skip.includes(t));
  const graph = app.graph;
  const nodes = [];
  const setWidgets = (node) => {
    for (const w of node.widgets ?? []) {
      if (!chance(0.6)) continue;
      if (w.name === 'control_after_generate') { w.value = pick(['fixed', 'increment', 'decrement', 'randomize']); continue; }
      if (w.type === 'number') {
        const o = w.options ?? {};
        const min = Number.isFinite(o.min) ? o.min : 0;
        const max = Number.isFinite(o.max) ? Math.min(o.max, min + 2000) : min + 2000;
        let v = min + rnd() * (max - min);
        v = o.precision === 0 || o.round === 1 ? Math.round(v) : Math.round(v * 100) / 100;
        w.value = v;
      } else if (w.type === 'combo') {
        const vals = typeof w.options?.values === 'function' ? w.options.values() : w.options?.values;
        if (Array.isArray(vals) && vals.length) w.value = pick(vals);
      } else if (w.type === 'toggle') {
        w.value = chance(0.5);
      } else if (w.type === 'text' || w.type === 'customtext' || w.type === 'string') {
        w.value = pick(['a cat', 'blue sky, red // note', 'a /* hidden */ dog', 'x', '', 'line one\\nline two']);
      }
    }
  };
  const n = 3 + Math.floor(rnd() * 8);
  for (let i = 0; i < n; i++) {
    const node = LG.createNode(pick(defs));
    if (!node) continue;
    node.pos = [200 * i, 100 * (i % 3)];
    graph.add(node);
    setWidgets(node);
    nodes.push(node);
  }
  // Links from earlier nodes into sockets, and sometimes into widget inputs.
  for (let t = 1; t < nodes.length; t++) {
    const target = nodes[t];
    for (let k = 0; k < (target.inputs?.length ?? 0); k++) {
      const input = target.inputs[k];
      if (input.link != null) continue;
      if (!chance(input.widget ? 0.15 : 0.75)) continue;
      const cands = [];
      for (let o = 0; o < t; o++) {
        for (const [j, out] of (nodes[o].outputs ?? []).entries()) {
          if (LG.isValidConnection(out.type, input.type) && out.type !== '*' ) cands.push([nodes[o], j]);
        }
      }
      if (!cands.length) continue;
      const [origin, j] = pick(cands);
      origin.connect(j, target, k);
    }
  }
  // PrimitiveNodes feeding widgets.
  const widgetInputs = () => nodes.flatMap((nd) => (nd.inputs ?? []).map((inp, k) => [nd, k, inp]))
    .filter(([nd, k, inp]) => inp.widget && inp.link == null);
  for (let i = 0; i < 2; i++) {
    if (!chance(0.3)) continue;
    const cands = widgetInputs();
    if (!cands.length) break;
    const [target, k] = pick(cands);
    const prim = LG.createNode('PrimitiveNode');
    prim.pos = [0, 400 + 100 * i];
    graph.add(prim);
    // Some frontend widgets throw when a primitive adopts them (an upload widget): no primitive.
    try { prim.connect(0, target, k); } catch (e) { graph.remove(prim); continue; }
    setWidgets(prim);
    if (chance(0.5)) {
      const more = widgetInputs().filter(([nd, kk, inp]) => inp.type === target.inputs[k].type && nd !== target);
      if (more.length) { const [t2, k2] = pick(more); try { prim.connect(0, t2, k2); } catch (e) {} }
    }
  }
  // Reroute nodes spliced into links.
  for (let i = 0; i < 2; i++) {
    if (!chance(0.3)) continue;
    const links = [...graph.links.values()];
    if (!links.length) break;
    const l = pick(links);
    const origin = graph.getNodeById(l.origin_id), target = graph.getNodeById(l.target_id);
    if (!origin || !target) continue;
    const rr = LG.createNode('Reroute');
    rr.pos = [100, 600 + 50 * i];
    graph.add(rr);
    const [os, ts] = [l.origin_slot, l.target_slot];
    origin.connect(os, rr, 0);
    rr.connect(0, target, ts);
  }
  // Bypass and mute.
  for (const nd of nodes) {
    if (chance(0.1)) nd.mode = 4; else if (chance(0.07)) nd.mode = 2;
  }
  const live = () => nodes.filter((nd) => graph.getNodeById(nd.id) === nd);
  const made = { subgraph: false, instances: 0, group: false };
  // A subgraph of a few connected nodes, sometimes with a second instance.
  if (chance(0.4)) {
    const pool = live().filter((nd) => nd.type !== 'PrimitiveNode');
    if (pool.length >= 2) {
      const start = Math.floor(rnd() * (pool.length - 1));
      const items = new Set(pool.slice(start, start + 2 + Math.floor(rnd() * 2)));
      try {
        const res = graph.convertToSubgraph(items);
        const sg = res?.node;
        if (sg) {
          made.subgraph = true; made.instances = 1;
          setWidgets(sg);
          if (chance(0.5)) {
            const clone = sg.clone();
            clone.pos = [sg.pos[0], sg.pos[1] + 300];
            graph.add(clone);
            for (const [k, inp] of (sg.inputs ?? []).entries()) {
              if (inp.link == null || !chance(0.8)) continue;
              const l = graph.links.get(inp.link);
              const o = l && graph.getNodeById(l.origin_id);
              if (o) o.connect(l.origin_slot, clone, k);
            }
            setWidgets(clone);
            made.instances = 2;
          }
        }
      } catch (e) { made.subgraphError = String(e); }
    }
  }
  // Candidates for a legacy group node (the caller finishes it through the name dialog).
  const groupable = live().filter((nd) => nd.type !== 'PrimitiveNode' && !nd.isSubgraphNode?.());
  if (chance(0.3) && groupable.length >= 2) {
    const start = Math.floor(rnd() * (groupable.length - 1));
    const items = groupable.slice(start, start + 2 + Math.floor(rnd() * 2));
    app.canvas.deselectAll();
    for (const nd of items) app.canvas.select(nd);
    window.__group = window.comfyAPI.groupNode.GroupNodeHandler.fromNodes(items);
    made.group = true;
  }
  return made;
}
"""

SAVE_JS = """
async () => {
  const app = window.comfyAPI.app.app;
  if (window.__group) { try { await window.__group } catch (e) {} window.__group = null; }
  return JSON.parse(JSON.stringify(app.graph.serialize()));
}
"""


def generate(static: Path, out: Path, count: int, seed: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    httpd, _ = server.start(static, None)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    classes = sorted(json.loads((server.FIXTURES / "object_info.json").read_text()))
    stats = {"graphs": 0, "subgraph": 0, "two_instances": 0, "group": 0}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=frontend.CHROMIUM, args=frontend.FLAGS, headless=True
        )
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("() => window.comfyAPI?.app?.app?.graph", timeout=120_000)
        page.wait_for_timeout(2000)
        for i in range(count):
            try:
                made = page.evaluate(BUILD_JS, [seed * 100003 + i, SKIP, classes])
            except Exception as e:  # noqa: BLE001 - the frontend threw while building: skip it
                stats["skipped"] = stats.get("skipped", 0) + 1
                print(f"  graph {i} skipped: {str(e).splitlines()[0]}", file=sys.stderr)
                continue
            if made.get("group"):
                name = f"group{i}"
                try:
                    box = page.locator(".p-dialog input").first
                    box.wait_for(timeout=5000)
                    box.fill(name)
                    box.press("Enter")
                except Exception:  # noqa: BLE001 - no dialog: the group was not made
                    made["group"] = False
                    page.keyboard.press("Escape")
            wf = page.evaluate(SAVE_JS)
            has_group = any(n["type"].startswith("workflow>") for n in wf["nodes"])
            (out / f"gen_{seed}_{i:05d}.json").write_text(json.dumps(wf, indent=1))
            stats["graphs"] += 1
            stats["subgraph"] += bool(made.get("subgraph"))
            stats["two_instances"] += made.get("instances") == 2
            stats["group"] += has_group
            if (i + 1) % 100 == 0:
                print(f"  generated {i + 1}/{count}", file=sys.stderr)
        browser.close()
    httpd.shutdown()
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--static", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--seed", type=int, default=15)
    a = ap.parse_args()
    print(json.dumps(generate(a.static, a.out, a.count, a.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
