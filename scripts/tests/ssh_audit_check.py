"""Audit a running sshd with ssh-audit and fail on any "fail"-level finding.

Usage: python ssh_audit_check.py PORT [HOST]   (HOST defaults to 127.0.0.1; loopback only)

Runs `ssh-audit -jj` (JSON), prints every fail- and warn-level note per algorithm, every CVE and
the recommendations, then exits 1 when ssh-audit reports a failure (its exit code 3) or any
finding carries a "fail" note; warnings are printed but accepted (curve25519 is needed by
libssh2 and is only flagged for lacking post-quantum protection).
"""

import json
import shutil
import subprocess
import sys


def main() -> int:
    port = sys.argv[1]
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    if not host.startswith("127.") and host != "localhost":
        print(f"refusing to audit {host}: loopback only", file=sys.stderr)
        return 2
    exe = shutil.which("ssh-audit")
    if exe is None:
        print("ssh-audit not found (pip install ssh-audit)", file=sys.stderr)
        return 2
    proc = subprocess.run([exe, "-jj", "-p", port, host], capture_output=True, text=True, timeout=120)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        print(f"ssh-audit gave no JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}", file=sys.stderr)
        return 1
    fails, warns = [], []
    for kind in ("kex", "key", "enc", "mac"):
        for alg in report.get(kind, []):
            notes = alg.get("notes", {})
            for note in notes.get("fail", []):
                fails.append(f"{kind} {alg['algorithm']}: {note}")
            for note in notes.get("warn", []):
                warns.append(f"{kind} {alg['algorithm']}: {note}")
    for cve in report.get("cves", []):
        fails.append(f"CVE {cve.get('name')} (cvssv2 {cve.get('cvssv2')}): {cve.get('description')}")
    print(f"ssh-audit {host}:{port}: banner {report.get('banner', {}).get('raw')!r}, exit code {proc.returncode}")
    for w in warns:
        print(f"  [warn] {w}")
    for f in fails:
        print(f"  [fail] {f}")
    for note in report.get("additional_notes", []):
        print(f"  [note] {note[:160]}")
    # ssh-audit's exit codes: 0 good, 2 warnings, 3 failures, 1 connection error.
    if proc.returncode == 1:
        print("ssh-audit could not connect", file=sys.stderr)
        return 1
    if fails or proc.returncode == 3:
        print(f"ssh-audit: {len(fails)} fail-level finding(s)", file=sys.stderr)
        return 1
    print(f"ssh-audit: no fail-level findings ({len(warns)} warning(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
