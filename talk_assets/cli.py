"""The `talk-assets` command.

Each command's implementation is imported only when that command runs, so `--help` and the
`flows` commands stay quick (they never import Dagster). A failure the user can fix (the
product's own `UserError`, `ConfigError` and connector errors) ends in a few lines, never in a
traceback; anything else in a short message and the path of a log with the traceback.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys
import textwrap
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NoReturn

GC_THRESHOLDS = (50_000, 20, 20)
"""The program's garbage collector thresholds (Python's defaults: 700, 10, 10); see `entry`."""

# command -> "module:function"; the function takes the parsed arguments and returns an exit code.
COMMANDS: dict[str, str] = {
    "emulate": "talk_assets.systems.emulator.command:emulate_command",
    "sync": "talk_assets.commands.sync:sync_command",
    "check": "talk_assets.commands.check:check_command",
    "demo": "talk_assets.commands.demo:demo_command",
    "lineage": "talk_assets.commands.lineage:lineage_command",
    "log": "talk_assets.commands.log:log_command",
    "flows import": "talk_assets.flows.commands:import_command",
    "flows render": "talk_assets.flows.commands:render_command",
    "flows list": "talk_assets.flows.commands:list_command",
}

CONFIGURATION = """\
configuration (environment variables, or a .env file; TALK_ASSETS_ENV_FILE names another):
  TALK_ASSETS_HOME            state folder (default ./.talk_assets)
  <SYSTEM>_BASE_URL, <SYSTEM>_TOKEN_URL
                              API base and token URL (default: the real service)
  <SYSTEM>_<CREDENTIAL>       credentials (`talk-assets check` names each system's): required
                              for a real service; the emulator's demo credentials are only
                              ever sent to loopback URLs
  <SYSTEM>_REQUESTS_PER_SECOND
                              the client's pace (default: the system's limit; 0 = off)
  TALK_ASSETS_MASS_WRITE_LIMIT, TALK_ASSETS_LOCK_WAIT
                              circuit breaker (default 1000), tenant lock wait (default 60 s)
  TALK_ASSETS_FLOWS           flow specs, Talk documents or folders (os.pathsep-separated;
                              default: the committed specs)
"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("talk-assets")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "unknown"


def _command(sub, name: str, help: str, description: str, examples: str):
    return sub.add_parser(
        name,
        help=help,
        description=description,
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given `argv` of another command, without the `emulate` options (they come
    from the system registry, which imports the schemas and so polars)."""
    parser = argparse.ArgumentParser(
        prog="talk-assets",
        description="Sesam Talk data flows as a Dagster asset graph: keep two systems in sync.",
        epilog=CONFIGURATION
        + "\nstart with: talk-assets demo   (emulators, syncs, edits: all on this machine)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(
        sub,
        "emulate",
        "serve every registered system's emulator",
        "Serve an emulator of every system on loopback until Ctrl-C; prints the URLs as JSON.",
        """
        talk-assets emulate
        talk-assets emulate --size 200 --fault-rate 0.05 --data-file emulators.json
        <SYSTEM>_BASE_URL=<the URL it printed> talk-assets sync   # in another shell
        """,
    )
    if argv is None or (list(argv)[:1] == ["emulate"]):
        from talk_assets.systems.emulator.command import add_arguments

        add_arguments(p)

    p = _command(
        sub,
        "sync",
        "run the whole asset graph once and print what moved",
        "Read every system, plan all flows, write the differences, print per flow what was "
        "read and written.\nExit 0 ok, 1 the run failed, 2 configuration error, 3 the tenant "
        "is busy. The run's full Dagster log goes to $TALK_ASSETS_HOME/logs/<run id>.log.",
        """
        talk-assets sync
        talk-assets sync --dry-run            # plan and report, write nothing
        talk-assets sync --dry-run --output plan.csv
        talk-assets sync --retry-rejected     # retry rows the systems rejected
        talk-assets sync --full-read          # read and plan everything (the daily safety net)
        talk-assets sync --tenant acme --wait 300
        talk-assets sync --flows my_flows.yaml talk-documents/
        """,
    )
    _flows_option(p)
    p.add_argument(
        "--tenant",
        default="default",
        help="state file name under TALK_ASSETS_HOME (default: default)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="plan and report the planned rows; changes nothing (no write, no state)",
    )
    p.add_argument(
        "--output",
        metavar="FILE.json|FILE.csv",
        help="with --dry-run: write the planned rows (record, property, old, new, why) to FILE",
    )
    p.add_argument(
        "--retry-rejected",
        action="store_true",
        help="plan again even when nothing changed, so rejected rows are retried",
    )
    p.add_argument(
        "--full-read",
        action="store_true",
        help="read every record (finds disappeared ones, S8) and plan every cluster, not only "
        "what changed; the daily schedule does this",
    )
    p.add_argument(
        "--allow-mass-write",
        action="store_true",
        help="go ahead although a datatype gets more than TALK_ASSETS_MASS_WRITE_LIMIT writes",
    )
    p.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="how long to wait for a live run that holds the tenant "
        "(default TALK_ASSETS_LOCK_WAIT or 60)",
    )
    _verbose(p)

    p = _command(
        sub,
        "check",
        "test the configuration and the connection to every system; writes nothing",
        "Test configuration, credentials (a token), read access per datatype (one small GET "
        "each), rate-limit headroom and the tenant's state file. Writes nothing.\n"
        "Exit 0 when every check passed, 1 when one failed.",
        """
        talk-assets check
        talk-assets check --tenant acme
        """,
    )
    p.add_argument("--tenant", default="default", help="state file to inspect (default: default)")
    _verbose(p)

    p = _command(
        sub,
        "demo",
        "emulators, sync, edits on both sides, sync again: what moved",
        "Start both emulators with sample data, sync, edit records on both sides, sync "
        "again and show what moved where and why. State stays in TALK_ASSETS_HOME (tenant demo).",
        """
        talk-assets demo
        TALK_ASSETS_HOME=/tmp/talk talk-assets demo
        """,
    )
    _verbose(p)

    p = _command(
        sub,
        "lineage",
        "where a property's value comes from and goes to",
        "The mapping chain of a property across all flows; with --id, that record's value "
        "history from the sync log (read-only).",
        """
        talk-assets lineage <system>.contacts.givenName
        talk-assets lineage <system>.employees.FirstName --id 42 --tenant demo
        """,
    )
    p.add_argument("property", metavar="SYSTEM.DATATYPE.PROPERTY")
    p.add_argument("--id", dest="record_id", help="show this record's value history")
    p.add_argument(
        "--tenant",
        default=None,
        help="state file to read (default: TALK_ASSETS_TENANT, else default)",
    )

    p = _command(
        sub,
        "log",
        "the sync log: every write and decision, row by row",
        "Rows of the sync log (read-only), newest first: what was inserted, updated, "
        "rejected in the plan (reject) or by the system (rejected), failed, and why.",
        """
        talk-assets log --run last
        talk-assets log --operation reject,rejected --limit 20
        talk-assets log --record <system>.contacts:1000003 --json
        """,
    )
    p.add_argument(
        "--tenant",
        default=None,
        help="state file to read (default: TALK_ASSETS_TENANT, else default)",
    )
    p.add_argument("--run", metavar="RUN_ID|last", help="one run: its id (a prefix) or last")
    p.add_argument("--record", metavar="KEY", help="one record: system.datatype:id")
    p.add_argument(
        "--operation",
        metavar="OP[,OP]",
        help="insert, update, reject, skip, rejected, failed, unknown",
    )
    p.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
    p.add_argument("--json", action="store_true", help="JSON rows with every column")

    flows = _command(
        sub,
        "flows",
        "flow specifications and Sesam Talk dataflow documents",
        "Convert between Sesam Talk dataflow documents and flow specifications.",
        """
        talk-assets flows import dataflows.rst > flows.yaml
        talk-assets flows render
        """,
    )
    fsub = flows.add_subparsers(dest="flows_command", required=True, metavar="ACTION")
    p = _command(
        fsub,
        "import",
        "print the flow specification of a dataflow document",
        "Print the flow specification (YAML) of a Sesam Talk dataflow document.",
        "talk-assets flows import ../shared/seeds/000_265dbc7c6246be08.txt",
    )
    p.add_argument("file", metavar="FILE.rst")
    p = _command(
        fsub,
        "render",
        "print a specification as a dataflow document",
        "Print a flow specification as a Sesam Talk dataflow document.",
        """
        talk-assets flows render
        talk-assets flows render flows.yaml
        """,
    )
    p.add_argument("spec", nargs="?", metavar="SPEC_FILE", help="default: the committed specs")
    p = _command(
        fsub,
        "list",
        "the active flows, where each comes from and what does not resolve",
        "List the chosen flows (--flows, else TALK_ASSETS_FLOWS, else the committed specs): "
        "active, off (enabled: false, or a condition without a machine-readable filter) or in "
        "error (a datatype, qualifier, property, data type or filter that does not resolve, "
        "or a duplicate flow name).\nExit 0 when every flow resolves, 1 otherwise.",
        """
        talk-assets flows list
        talk-assets flows list --flows dataflows.rst my_specs/
        """,
    )
    _flows_option(p)
    return parser


def _flows_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--flows",
        nargs="+",
        metavar="PATH",
        help="specification files (.yaml), Talk documents (.rst, .txt) or folders of them "
        "(default: TALK_ASSETS_FLOWS, else the committed specs)",
    )


def _verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the full Dagster log live (it always goes to the log file), and tracebacks",
    )


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
    return run(name, getattr(module, func_name), args)


def run(name: str, func, args: argparse.Namespace) -> int:
    """`func(args)`, with the product's errors as a few lines and the rest as a short message."""
    from talk_assets.errors import UserError

    try:
        return int(func(args) or 0)
    except UserError as exc:
        lines = exc.lines()
        print(f"talk-assets {name}: {lines[0]}", *lines[1:], sep="\n", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"talk-assets {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        connector_error = _connector_error(exc)
        if connector_error is not None:
            print(f"talk-assets {name}: {connector_error}", file=sys.stderr)
            return 1
        if getattr(args, "verbose", False):
            raise
        path = _crash_log(name)
        print(
            f"talk-assets {name}: unexpected error: {type(exc).__name__}: {exc}".rstrip(),
            f"the traceback is in {path}" if path else "",
            sep="\n",
            file=sys.stderr,
        )
        return 1


def _connector_error(exc: BaseException) -> BaseException | None:
    module = sys.modules.get("talk_assets.systems.connector.errors")
    if module is not None and isinstance(exc, module.ConnectorError):
        return exc
    return None


def _crash_log(name: str) -> str | None:
    try:
        from talk_assets.store.tenant import home

        folder = home() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = folder / f"error-{name.replace(' ', '-')}-{stamp}.log"
        path.write_text(traceback.format_exc(), encoding="utf-8")
        return str(path.resolve())
    except Exception:  # the log is a courtesy: never hide the error behind another
        return None


def entry() -> NoReturn:
    """The `talk-assets` program: `main`, then exit. (Not in `main`: tests call it in their
    own long-lived process.)

    Python's default collector thresholds (700 new objects) make a `sync` scan Dagster's
    hundreds of thousands of long-lived objects over and over; the program collects the young
    generation every `GC_THRESHOLDS[0]` objects instead (polars and DuckDB data are not Python
    objects). Tearing the interpreter down at the end collects garbage over every object,
    several times: 0.6-0.8 s, a fifth of a no-change `sync`. The command has closed what it
    opened (state files, logs, threads), so the program runs the exit handlers, flushes its
    output and leaves without that teardown.
    """
    gc.set_threshold(*GC_THRESHOLDS)
    code = main()
    atexit._run_exitfuncs()  # logging's flush and close, finalizers of temporary files
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
