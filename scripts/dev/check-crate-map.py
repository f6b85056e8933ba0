#!/usr/bin/env python3
"""Checks that docs/DESIGN.md's crate-map list names exactly the internal (normal, non-dev)
dependencies that `cargo metadata` reports for every workspace member, so the picture in the docs
cannot drift from the code. Exit 0 when they match, 1 with every difference listed otherwise."""

import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BEGIN = "<!-- crate-map: the checked list of internal dependencies -->"
END = "<!-- /crate-map -->"


def documented(text: str) -> dict[str, set[str]]:
    """The `- `a` -> `b`, `c`` lines between the markers, as {crate: {dependencies}}."""
    if BEGIN not in text or END not in text:
        sys.exit(f"docs/DESIGN.md: the markers {BEGIN!r} ... {END!r} are missing")
    block = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    edges: dict[str, set[str]] = {}
    for line in block.strip().splitlines():
        m = re.fullmatch(r"- `([\w-]+)`(?: \(dev-only\))? -> (.+)", line.strip())
        if not m:
            sys.exit(f"docs/DESIGN.md: cannot read crate-map line {line!r}")
        deps = m.group(2).strip()
        edges[m.group(1)] = set() if deps == "nothing" else set(re.findall(r"`([\w-]+)`", deps))
    return edges


def actual() -> dict[str, set[str]]:
    """Every workspace member's normal dependencies on other workspace members."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    packages = json.loads(out)["packages"]
    names = {p["name"] for p in packages}
    return {
        p["name"]: {
            d["name"] for d in p["dependencies"] if d["name"] in names and d["kind"] is None
        }
        for p in packages
    }


def main() -> int:
    doc = documented((ROOT / "docs/DESIGN.md").read_text(encoding="utf-8"))
    real = actual()
    problems = []
    for crate in sorted(real.keys() | doc.keys()):
        if crate not in doc:
            problems.append(f"{crate}: a workspace member the crate map does not list")
        elif crate not in real:
            problems.append(f"{crate}: listed in the crate map but not a workspace member")
        else:
            for dep in sorted(real[crate] - doc[crate]):
                problems.append(f"{crate} -> {dep}: in Cargo.toml, missing from the crate map")
            for dep in sorted(doc[crate] - real[crate]):
                problems.append(f"{crate} -> {dep}: in the crate map, not in Cargo.toml")
    if problems:
        print("docs/DESIGN.md crate map and Cargo.toml disagree:", *problems, sep="\n  ")
        print("fix the code or the list (and README's crate map sentence)")
        return 1
    print(f"crate map matches cargo metadata ({len(real)} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
