"""`talk-assets sync`: materialize the whole graph once and print what moved."""

from __future__ import annotations

import argparse
import sys

from talk_assets.commands.environment import load_environment


def sync_command(args: argparse.Namespace) -> int:
    load_environment()
    from talk_assets.defs.dead_runs import TenantBusy
    from talk_assets.defs.runner import format_report, run_sync
    from talk_assets.defs.settings import SyncSettings

    settings = SyncSettings(
        tenant=args.tenant, dry_run=args.dry_run, allow_mass_write=args.allow_mass_write
    )
    try:
        rep = run_sync(settings, wait=getattr(args, "wait", None))
    except TenantBusy as exc:
        print(f"sync not started: {exc}", file=sys.stderr)
        return 3
    print(format_report(rep))
    if not rep.success:
        print(f"\nsync failed: {rep.error}", file=sys.stderr)
        return 1
    print(f"\nrun {rep.run_id}: ok")
    return 0
