"""`talk-assets sync`: materialize the whole graph once and print what moved.

The configuration is checked before anything is sent. The run's full Dagster log goes to
`$TALK_ASSETS_HOME/logs/<run id>.log` (and live to stderr with `--verbose`); a failed run ends
in a few lines: what failed, why (the system's answer) and what to change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from talk_assets.commands.environment import load_environment, require_configuration


def sync_command(args: argparse.Namespace) -> int:
    load_environment()
    from talk_assets.flows.catalog import active_flows

    flows = active_flows(getattr(args, "flows", None))  # FlowsError before any run
    require_configuration()
    output = _output_path(args)
    from talk_assets.defs.answers import planned_lines, write_planned
    from talk_assets.defs.dead_runs import TenantBusy
    from talk_assets.defs.runner import format_report, run_sync
    from talk_assets.defs.settings import SyncSettings
    from talk_assets.store.tenant import home

    settings = SyncSettings(
        tenant=args.tenant,
        dry_run=args.dry_run,
        allow_mass_write=args.allow_mass_write,
        retry_rejected=getattr(args, "retry_rejected", False),
        full_read=getattr(args, "full_read", False),
    )
    try:
        rep = run_sync(
            settings,
            flows=flows,
            wait=getattr(args, "wait", None),
            log_dir=home().resolve() / "logs",
            verbose=getattr(args, "verbose", False),
        )
    except TenantBusy as exc:
        print(f"sync not started: {exc}", file=sys.stderr)
        return 3
    if rep.success or rep.flows.height:
        print(format_report(rep))
    if rep.planned is not None:
        print("", *planned_lines(rep.planned), sep="\n")
        if output is not None:
            write_planned(rep.planned, output)
            print(f"planned rows written to {output}")
    if not rep.success:
        print(*failure_lines(rep), sep="\n", file=sys.stderr)
        return 1
    print(f"\nrun {rep.run_id}: ok")
    return 0


def _output_path(args: argparse.Namespace) -> Path | None:
    """`--output`, checked before the run: only with --dry-run, and .json or .csv."""
    from talk_assets.errors import UserError

    output = getattr(args, "output", None)
    if output is None:
        return None
    path = Path(output)
    if not args.dry_run:
        raise UserError("--output writes a dry run's planned rows: add --dry-run", exit_code=2)
    if path.suffix.lower() not in (".json", ".csv"):
        raise UserError(f"--output {output}: the file must end in .json or .csv", exit_code=2)
    return path


def failure_lines(rep, title: str = "sync failed") -> list[str]:
    """A failed run in a few lines: per cause what failed, why, what to change; the log."""
    from talk_assets.defs.failures import explain

    lines = explain(rep.failures) if rep.failures else [rep.error or "the run failed"]
    out = [f"{title}: {lines[0]}", *lines[1:]]
    if rep.log_path is not None:
        out.append(f"  log: {rep.log_path}")
    return out
