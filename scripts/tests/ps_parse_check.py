"""Parse PowerShell scripts with the tree-sitter PowerShell grammar and fail on syntax errors,
then apply the PSScriptAnalyzer rules that a syntax tree can decide.

Usage: python ps_parse_check.py FILE.ps1 [...]

The rules (named as PSScriptAnalyzer names them):
- PSUseApprovedVerbs: every function is Verb-Noun with a verb from `Get-Verb`;
- PSAvoidUsingInvokeExpression: no Invoke-Expression / iex;
- PSAvoidUsingCmdletAliases: no alias of a built-in cmdlet (%, ?, ls, gci, select, ...);
- PSAvoidUsingWriteHost is NOT applied: the script talks to the person running it.

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


# `Get-Verb` on PowerShell 7.4 (every group).
APPROVED_VERBS = set("""
Add Clear Close Copy Enter Exit Find Format Get Hide Join Lock Move New Open Optimize Pop Push
Redo Remove Rename Reset Resize Search Select Set Show Skip Split Step Switch Undo Unlock Watch
Connect Disconnect Read Receive Send Write Backup Checkpoint Compare Compress Convert ConvertFrom
ConvertTo Dismount Edit Expand Export Group Import Initialize Limit Merge Mount Out Publish
Restore Save Sync Unpublish Update Debug Measure Ping Repair Resolve Test Trace Approve Assert
Build Complete Confirm Deny Deploy Disable Enable Install Invoke Register Request Restart Resume
Start Stop Submit Suspend Uninstall Unregister Wait Use Block Grant Protect Revoke Unblock
Unprotect
""".split())

# Aliases of built-in cmdlets (`Get-Alias` on a fresh PowerShell 7.4), lower case.
ALIASES = set("""
% ? ac cat cd chdir clc clear clhy cli clp cls clv cnsn compare copy cp cpi cpp cvpa dbp del diff
dir dnsn ebp echo epal epcsv erase etsn exsn fc fhx fl foreach ft fw gal gbp gc gcb gci gcm gcs
gdr gerr ghy gi gin gjb gl gm gmo gp gps gpv group gsn gsv gtz gu gv gwmi h history icm iex ihy
ii ipal ipcsv ipmo irm iwmi iwr kill lp ls man md measure mi mount move mp mv nal ndr ni nmo nsn
nv ogv oh popd ps pushd pwd r rbp rcjb rcsn rd rdr ren ri rjb rm rmdir rmo rni rnp rp rsn rv rvpa
rwmi sajb sal saps sasv sbp sc scb select set shcm si sl sleep sls sort sp spjb spps spsv start
stz sujb sv swmi tee trcm type where wjb write
""".split())


def rule_problems(tree, src):
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.children))
        text = src[node.start_byte : node.end_byte].decode(errors="replace")
        line = node.start_point[0] + 1
        if node.type == "function_name":
            verb, dash, noun = text.partition("-")
            if not dash or not noun:
                yield f"{line}: PSUseApprovedVerbs: function {text!r} is not Verb-Noun"
            elif verb not in APPROVED_VERBS:
                yield f"{line}: PSUseApprovedVerbs: {verb!r} (in {text!r}) is not an approved verb"
        elif node.type == "command_name":
            name = text.lower()
            if name in ("invoke-expression", "iex"):
                yield f"{line}: PSAvoidUsingInvokeExpression: {text}"
            elif name in ALIASES:
                yield f"{line}: PSAvoidUsingCmdletAliases: {text!r} is an alias; write the cmdlet"


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
            continue
        print(f"{path}: parses ({tree.root_node.descendant_count} syntax nodes)")
        broken = list(rule_problems(tree, src))
        if broken:
            bad += 1
            for p in broken:
                print(f"  {path}:{p}")
        else:
            print(f"{path}: PSUseApprovedVerbs, PSAvoidUsingInvokeExpression, PSAvoidUsingCmdletAliases: clean")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
