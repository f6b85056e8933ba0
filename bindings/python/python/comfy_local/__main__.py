"""``python -m comfy_local``: the connection test, as ``comfy-local test-connection`` runs it.

Prints the report as a table (or one JSON object with ``--json``) and exits 0 when every stage
passed, 2 when the config (or the instance asked for) is wrong, 3 when the host cannot be reached
or logged in to, 4 when the host or ComfyUI is not usable.
"""

from __future__ import annotations

import argparse
import sys

import comfy_local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m comfy_local",
        description="Test the connection to an instance stage by stage (as `comfy-local test-connection`).",
        epilog="examples:\n  python -m comfy_local --config local-support-config.yml\n"
        "  python -m comfy_local --instance local --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: as the CLI finds it)")
    parser.add_argument("--instance", metavar="ID", help="instance id (default: the first local one)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = parser.parse_args(argv)
    report = comfy_local.test_connection(args.config, args.instance)
    if args.json:
        print(report.json)
    else:
        sys.stdout.write(report.table)
    failed = report.first_failure()
    if failed is not None:
        print(f'error: connection test failed at "{failed.title}": {failed.detail}', file=sys.stderr)
        if failed.hint:
            print(f"hint: {failed.hint}", file=sys.stderr)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
