"""Parse PowerShell scripts with the tree-sitter PowerShell grammar and fail on syntax errors.

Usage: python ps_parse_check.py FILE.ps1 [...]

PowerShell itself cannot be installed from the package registries this project uses, so this is
the syntax check CI can run: the `tree-sitter` and `tree-sitter-powershell` packages from PyPI.
It reports every ERROR or MISSING node with its line and column. It proves the script parses;
it does not prove the cmdlets behave (see docs/LOCAL_COMFYUI_QUICK_START.md, "What was tested").
"""

import sys

import tree_sitter
import tree_sitter_powershell


def problems(tree, src):
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            line, col = node.start_point
            text = src[node.start_byte : node.end_byte][:60].decode(errors="replace")
            kind = "missing " + node.type if node.is_missing else "unexpected"
            yield f"{line + 1}:{col + 1}: {kind} {text!r}"
            if node.is_error:
                continue
        stack.extend(reversed(node.children))


def main() -> int:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    bad = 0
    for path in sys.argv[1:]:
        src = open(path, "rb").read()
        tree = parser.parse(src)
        found = list(problems(tree, src))
        if found or tree.root_node.has_error:
            bad += 1
            print(f"{path}: syntax errors")
            for p in found:
                print(f"  {path}:{p}")
        else:
            print(f"{path}: parses ({tree.root_node.descendant_count} syntax nodes)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
