"""The `talk-assets` command.

Each command's implementation is imported only when that command runs, so `--help` and the
`flows` commands stay quick (they never import Dagster).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command -> "module:function"; the function takes the parsed arguments and returns an exit code.
COMMANDS: dict[str, str] = {
    "emulate": "talk_assets.systems.emulator.command:emulate_command",
    "sync": "talk_assets.commands.sync:sync_command",
    "demo": "talk_assets.commands.demo:demo_command",
    "lineage": "talk_assets.commands.lineage:lineage_command",
    "flows import": "talk_assets.flows.commands:import_command",
    "flows render": "talk_assets.flows.commands:render_command",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given `argv` of another command, without the `emulate` options (they come
    from the system registry, which imports the schemas and so polars)."""
    parser = argparse.ArgumentParser(
        prog="talk-assets",
        description="Sesam Talk data flows as a Dagster asset graph: keep two systems in sync.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("emulate", help="serve every registered system's emulator")
    if argv is None or (list(argv)[:1] == ["emulate"]):
        from talk_assets.systems.emulator.command import add_arguments

        add_arguments(p)

    p = sub.add_parser("sync", help="run the whole asset graph once and print what moved")
    p.add_argument("--tenant", default="default", help="state file name under TALK_ASSETS_HOME")
    p.add_argument("--dry-run", action="store_true", help="plan and report, write nothing")
    p.add_argument(
        "--allow-mass-write", action="store_true", help="override the circuit breaker (S12)"
    )
    p.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="how long to wait for a live run that holds the tenant "
        "(default TALK_ASSETS_LOCK_WAIT or 60)",
    )

    sub.add_parser("demo", help="emulators, sync, edits on both sides, sync again: what moved")

    p = sub.add_parser("lineage", help="where a property's value comes from and goes to")
    p.add_argument("property", metavar="SYSTEM.DATATYPE.PROPERTY")
    p.add_argument("--id", dest="record_id", help="show this record's value history")
    p.add_argument("--tenant", default="default")

    flows = sub.add_parser("flows", help="flow specifications and Sesam Talk dataflow documents")
    fsub = flows.add_subparsers(dest="flows_command", required=True, metavar="ACTION")
    p = fsub.add_parser("import", help="print the flow specification of a dataflow document")
    p.add_argument("file", metavar="FILE.rst")
    p = fsub.add_parser("render", help="print a specification as a dataflow document")
    p.add_argument("spec", nargs="?", metavar="SPEC_FILE", help="default: the committed specs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    name = args.command + (f" {args.flows_command}" if args.command == "flows" else "")
    module_name, _, func_name = COMMANDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"talk-assets {name}: not built yet", file=sys.stderr)
            return 2
        raise
    return int(getattr(module, func_name)(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
