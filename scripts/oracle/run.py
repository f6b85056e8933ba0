#!/usr/bin/env python3
"""The differential oracle of comfy-local's UI -> API conversion against the real ComfyUI frontend.

One command (`just oracle`) does it all: installs each frontend version from PyPI into a venv
under target/oracle/, collects the inputs (every workflow of comfyui-workflow-templates, every
UI fixture of fixtures/comfyui/conversion, and seeded generated graphs), converts them with the
frontend in Debian's headless Chromium and with our converter (the `convert_dir` example of
crates/workflow), and compares the two outputs exactly (key order ignored, numbers by value, as
fixtures/comfyui/conversion/check.py does). It prints the match rate per frontend version and
source and writes the differences to target/oracle/<version>/report.json.

`--update-fixtures` rewrites the generated pairs of fixtures/comfyui/oracle/ from the pinned
version's results (a selection of the generated graphs we match, with the frontend's answer) and
adds the class pairs not committed yet; the workflow crate's tests check them in CI.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "target" / "oracle"
PINNED = "1.27.10"
# The templates ComfyUI 0.3.64 (the recorded server) ships, matching its object_info.
TEMPLATES = "0.1.95"
PLAYWRIGHT = "1.65.2"
FIXTURES = ROOT / "fixtures" / "comfyui"
OUT_FIXTURES = FIXTURES / "oracle"


def sh(*cmd: str | Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def venv(frontend: str) -> Path:
    """A venv with this frontend, the pinned templates and playwright (no browser download)."""
    v = WORK / f"venv-{frontend}"
    stamp = v / ".installed"
    want = f"{frontend} {TEMPLATES} {PLAYWRIGHT}"
    if stamp.exists() and stamp.read_text() == want:
        return v
    if not (v / "bin" / "python").exists():
        sh(sys.executable, "-m", "venv", v)
    sh(
        v / "bin" / "pip",
        "install",
        "-q",
        f"comfyui-frontend-package=={frontend}",
        f"comfyui-workflow-templates=={TEMPLATES}",
        f"playwright=={PLAYWRIGHT}",
    )
    stamp.write_text(want)
    return v


def site(v: Path) -> Path:
    return next((v / "lib").glob("python3*/site-packages"))


def newest_frontend() -> str:
    """The newest comfyui-frontend-package on PyPI (pip's own index query)."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "comfyui-frontend-package"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # "comfyui-frontend-package (1.58.1)"
    return out.split("(", 1)[1].split(")", 1)[0]


def same(a, b) -> bool:
    """JSON equality as check.py defines it: key order ignored, numbers by value, bools strict."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def diff(expected: dict, got: dict) -> list[str]:
    """A short description of how two prompts differ, node by node."""
    out = []
    for k in sorted(set(expected) | set(got)):
        if k not in got:
            out.append(f"{k}: missing ({expected[k].get('class_type')})")
        elif k not in expected:
            out.append(f"{k}: extra ({got[k].get('class_type')})")
        elif not same(expected[k], got[k]):
            e, g = expected[k], got[k]
            ei, gi = e.get("inputs", {}), g.get("inputs", {})
            parts = [
                f"{n}: {json.dumps(ei.get(n, '<absent>'))[:80]} vs {json.dumps(gi.get(n, '<absent>'))[:80]}"
                for n in sorted(set(ei) | set(gi))
                if not same(ei.get(n), gi.get(n)) or (n in ei) != (n in gi)
            ]
            if not same(e.get("_meta"), g.get("_meta")):
                parts.append(f"_meta {e.get('_meta')} vs {g.get('_meta')}")
            out.append(f"{k} ({e.get('class_type')}): " + "; ".join(parts))
    return out


def compare(name: str, frontend_dir: Path, ours_dir: Path) -> str | None:
    """None when both sides agree, else what differs."""
    f_api, f_err = frontend_dir / f"{name}.api.json", frontend_dir / f"{name}.error.txt"
    o_api, o_err = ours_dir / f"{name}.api.json", ours_dir / f"{name}.error.txt"
    if f_err.exists():
        return None if o_err.exists() else "frontend throws, we convert: " + f_err.read_text().strip()
    if not f_api.exists():
        return "no frontend result"
    e = json.loads(f_api.read_text())
    if o_err.exists():
        err = o_err.read_text().strip()
        # A node class the server lacks: the frontend emits it with `class_type: null` (which
        # the server rejects), we refuse before sending. Both fail; not a difference.
        if "does not have these node classes" in err and any(
            n.get("class_type") is None for n in e.values()
        ):
            return None
        return "we fail: " + err
    g = json.loads(o_api.read_text())
    if same(e, g):
        return None
    return " | ".join(diff(e, g))[:2000]


# Nodes whose widgets upload a fresh capture or render while the frontend converts (Load3D's
# viewport screenshots, the webcam): no converter can reproduce that, so inputs with them are
# counted apart.
UNCONVERTIBLE = ("Load3D", "Load3DAnimation", "WebcamCapture")


def unconvertible(p: Path) -> bool:
    text = p.read_text()
    return any(f'"type": "{c}"' in text or f'"type":"{c}"' in text for c in UNCONVERTIBLE)


def collect_inputs(v: Path, generated: int, seed: int, keep: bool) -> dict[str, list[Path]]:
    """Copies every input into target/oracle/inputs/<source>/ and returns them by source."""
    inputs: dict[str, list[Path]] = {}
    tdir = WORK / "inputs" / "templates"
    shutil.rmtree(tdir, ignore_errors=True)
    tdir.mkdir(parents=True)
    for p in sorted((site(v) / "comfyui_workflow_templates" / "templates").glob("*.json")):
        if p.name.startswith("index"):
            continue
        shutil.copy(p, tdir / p.name)
    inputs["templates"] = sorted(tdir.glob("*.json"))
    fdir = WORK / "inputs" / "fixtures"
    shutil.rmtree(fdir, ignore_errors=True)
    fdir.mkdir(parents=True)
    for p in sorted((FIXTURES / "conversion").glob("*.ui.json")):
        shutil.copy(p, fdir / p.name)
    for p in sorted((FIXTURES / "workflows").glob("*.json")):
        data = json.loads(p.read_text())
        if isinstance(data.get("nodes"), list):
            shutil.copy(p, fdir / f"wf_{p.name}")
    inputs["fixtures"] = sorted(fdir.glob("*.json"))
    gdir = WORK / "inputs" / "generated"
    if keep and gdir.is_dir():
        inputs["generated"] = sorted(gdir.glob("*.json"))
    elif generated:
        shutil.rmtree(gdir, ignore_errors=True)
        generate(v, gdir, generated, seed)
        inputs["generated"] = sorted(gdir.glob("*.json"))
    return inputs


def generate(v: Path, out: Path, count: int, seed: int) -> None:
    """Seeded random graphs, built in the pinned frontend and saved as it saves them."""
    static = site(v) / "comfyui_frontend_package" / "static"
    sh(
        v / "bin" / "python",
        Path(__file__).parent / "generate.py",
        "--static",
        static,
        "--out",
        out,
        "--count",
        str(count),
        "--seed",
        str(seed),
    )


def ours(inputs: list[Path], out: Path) -> None:
    """Our converter on every input."""
    sh("cargo", "build", "-q", "-p", "comfy-local-workflow", "--example", "convert_dir", cwd=ROOT)
    exe = ROOT / "target" / "debug" / "examples" / "convert_dir"
    shutil.rmtree(out, ignore_errors=True)
    # In chunks, to keep the command line short.
    for i in range(0, len(inputs), 200):
        chunk = inputs[i : i + 200]
        sh(exe, "--object-info", FIXTURES / "object_info.json", "--out", out, *chunk)


def answered(out: Path, p: Path) -> bool:
    name = p.name.removesuffix(".json").removesuffix(".ui")
    return (out / f"{name}.api.json").exists() or (out / f"{name}.error.txt").exists()


def frontend(v: Path, inputs: list[Path], out: Path, resume: bool = False) -> dict:
    """The frontend's answers; with `resume`, only for inputs without one yet."""
    s = site(v)
    if resume:
        inputs = [p for p in inputs if not answered(out, p)]
        log = out / "_server_log.json"
        if not inputs:
            return {"not_found": json.loads(log.read_text())["not_found"] if log.exists() else []}
    else:
        shutil.rmtree(out, ignore_errors=True)
    res = subprocess.run(
        [
            str(v / "bin" / "python"),
            str(Path(__file__).parent / "frontend.py"),
            "--static",
            str(s / "comfyui_frontend_package" / "static"),
            "--templates",
            str(s / "comfyui_workflow_templates" / "templates"),
            "--out",
            str(out),
            *map(str, inputs),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_version(version: str, inputs: dict[str, list[Path]], reuse: bool) -> dict:
    base = WORK / version
    everything = [p for ps in inputs.values() for p in ps]
    info = frontend(venv(version), everything, base / "frontend", resume=reuse)
    ours(everything, base / "ours")
    report: dict = {"version": version, "not_found_routes": info["not_found"], "sources": {}}
    for source, paths in inputs.items():
        diffs = {}
        excluded = [p.name for p in paths if unconvertible(p)]
        paths = [p for p in paths if not unconvertible(p)]
        for p in paths:
            name = p.name.removesuffix(".json").removesuffix(".ui")
            d = compare(name, base / "frontend", base / "ours")
            if d:
                diffs[name] = d
        report["sources"][source] = {
            "total": len(paths),
            "match": len(paths) - len(diffs),
            "excluded_unconvertible": excluded,
            "frontend_errors": sum(
                (base / "frontend" / f"{p.name.removesuffix('.json').removesuffix('.ui')}.error.txt").exists()
                for p in paths
            ),
            "differences": diffs,
        }
    (base / "report.json").write_text(json.dumps(report, indent=1))
    return report


# One pair per difference class the oracle found: (fixture name, source, input name).
CLASS_PAIRS = [
    ("control_false_seed", "templates", "api_moonvalley_video_to_video_motion_transfer"),
    ("audio_record", "templates", "api_stability_ai_audio_to_audio"),
    ("subgraph_instances", "templates", "video_wan2_2_14B_s2v"),
    ("group_frontend_widgets", "generated", "gen_15_00151"),
    ("filename_prefix_not_text", "generated", "gen_15_00403"),
    ("primitive_merge", "generated", "gen_15_00074"),
    ("group_refresh_widgets", "generated", "gen_15_00003"),
    ("group_audio_record", "generated", "gen_15_00227"),
    ("subgraph_primitive_without_value", "generated", "gen_15_00020"),
    ("group_primitive_target", "generated", "gen_15_00565"),
    ("group_audio_ui", "generated", "gen_15_00767"),
    ("group_force_input", "generated", "gen_15_00499"),
    ("group_key_order", "generated", "gen_15_00546"),
]
# How many generated pairs to commit, and the largest UI file to take (compact JSON bytes).
KEEP_GENERATED = 320
MAX_UI_BYTES = 12_000


def features(ui: dict) -> set[str]:
    """What a generated graph exercises, for choosing which ones to commit."""
    out = set()
    if any(n["type"].startswith("workflow>") for n in ui["nodes"]):
        out.add("group")
    subgraphs = (ui.get("definitions") or {}).get("subgraphs") or []
    if subgraphs:
        out.add("subgraph")
        ids = [n["type"] for n in ui["nodes"] if n["type"] in {s["id"] for s in subgraphs}]
        if len(ids) > len(set(ids)):
            out.add("instances")
    for n in ui["nodes"]:
        if n["type"] in ("PrimitiveNode", "Reroute"):
            out.add(n["type"])
        if n.get("mode") in (2, 4):
            out.add(f"mode{n['mode']}")
    return out


def compact(value) -> str:
    return json.dumps(value, separators=(",", ":")) + "\n"


def update_fixtures(inputs: dict[str, list[Path]]) -> None:
    """The class pairs and a selection of generated graphs, with the pinned frontend's answers,
    into fixtures/comfyui/oracle/ (the workflow crate's tests check them)."""
    OUT_FIXTURES.mkdir(parents=True, exist_ok=True)
    for p in OUT_FIXTURES.glob("gen_*"):
        p.unlink()
    fdir = WORK / PINNED / "frontend"

    def write(name: str, ui_path: Path, result: str) -> None:
        (OUT_FIXTURES / f"{name}.ui.json").write_text(compact(json.loads(ui_path.read_text())))
        api, err = fdir / f"{result}.api.json", fdir / f"{result}.error.txt"
        if api.exists():
            (OUT_FIXTURES / f"{name}.api.json").write_text(compact(json.loads(api.read_text())))
        else:
            (OUT_FIXTURES / f"{name}.error.txt").write_text(err.read_text())

    for name, source, stem in CLASS_PAIRS:
        # A committed class pair stays as it was found: the generator changes over time, so a
        # generated graph's name does not name the same graph in every run.
        if not (OUT_FIXTURES / f"class_{name}.ui.json").exists():
            write(f"class_{name}", WORK / "inputs" / source / f"{stem}.json", stem)
    # Rarest features first, so every kind of graph is in the selection.
    scored = []
    for p in inputs.get("generated", []):
        if not p.exists():
            continue
        ui = json.loads(p.read_text())
        if len(compact(ui)) > MAX_UI_BYTES:
            continue
        f = features(ui)
        rank = (
            "group" not in f,
            "instances" not in f,
            "subgraph" not in f,
            -len(f),
            p.name,
        )
        scored.append((rank, p))
    ours_dir = WORK / PINNED / "ours"
    kept = 0
    for _, p in sorted(scored):
        stem = p.name.removesuffix(".json")
        answered = (fdir / f"{stem}.api.json").exists() or (fdir / f"{stem}.error.txt").exists()
        # Only pairs we match: CI stays green, and the report lists the open differences.
        if kept == KEEP_GENERATED or not answered or compare(stem, fdir, ours_dir) is not None:
            continue
        write(stem, p, stem)
        kept += 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", default=f"{PINNED},newest", help="frontend versions (newest = PyPI's newest)")
    ap.add_argument("--generated", type=int, default=1200, help="how many random graphs")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument(
        "--keep-generated",
        action="store_true",
        help="reuse the graphs of the last run (target/oracle/inputs/generated)",
    )
    ap.add_argument(
        "--reuse-frontend",
        action="store_true",
        help="keep the frontend answers of the last run and ask only for missing ones "
        "(after a converter change, or to finish a stopped run)",
    )
    ap.add_argument("--update-fixtures", action="store_true")
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    versions = [newest_frontend() if x == "newest" else x for x in a.versions.split(",")]
    inputs = collect_inputs(venv(PINNED), a.generated, a.seed, a.keep_generated)
    failed = False
    for version in versions:
        r = run_version(version, inputs, a.reuse_frontend)
        print(f"frontend {version}:")
        for source, s in r["sources"].items():
            print(
                f"  {source}: {s['match']}/{s['total']} match ({s['frontend_errors']} the frontend "
                f"refuses; {len(s['excluded_unconvertible'])} left out: {', '.join(UNCONVERTIBLE)})"
            )
            for name, d in list(s["differences"].items())[:10]:
                print(f"    {name}: {d[:300]}")
            failed |= version == PINNED and s["match"] != s["total"]
        print(f"  routes answered 404: {', '.join(r['not_found_routes'])}")
        print(f"  report: {WORK / version / 'report.json'}")
    if a.update_fixtures:
        update_fixtures(inputs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
