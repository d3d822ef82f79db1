"""`talk-assets demo`: the embedded default, end to end on one machine.

Starts both emulators with sample data on free loopback ports, syncs until settled, edits
records on both sides through their APIs (a name in Crmoffice, a phone number in
Powerofficego, a conflicting edit on both), syncs again and shows what moved where and why,
then shows that a run without changes writes nothing. Nothing is left running; the state and
the emulators' data stay under TALK_ASSETS_HOME for the Dagster UI.
"""

from __future__ import annotations

import argparse
import os
import time

from talk_assets.commands.environment import load_environment, require_configuration
from talk_assets.errors import UserError
from talk_assets.store.clusters import linked_ids

TENANT = "demo"
SEED, SIZE = 7, 8
MAX_SETTLE_RUNS = 4


def demo_command(args: argparse.Namespace) -> int:
    load_environment()
    require_configuration(systems=False)  # the demo points the systems at its own emulators
    from talk_assets.commands.sync import failure_lines
    from talk_assets.defs.runner import dagster_instance, format_report, run_sync
    from talk_assets.defs.settings import SyncSettings
    from talk_assets.store.tenant import home, tenant_path
    from talk_assets.systems.emulator import running_emulators
    from talk_assets.systems.emulator.storage import remove_data_file

    started = time.monotonic()
    base = home().resolve()
    base.mkdir(parents=True, exist_ok=True)
    data_file = base / "demo-emulators.json"
    tenant_path(TENANT, base).unlink(missing_ok=True)
    remove_data_file(data_file)
    instance = dagster_instance()
    settings = SyncSettings(tenant=TENANT, home=str(base))

    def sync(title: str):
        rep = run_sync(
            settings,
            instance=instance,
            log_dir=base / "logs",
            verbose=getattr(args, "verbose", False),
            with_moves=True,
        )
        print(f"\n== {title}")
        if not rep.success:
            first, *rest = failure_lines(rep, title="the demo's sync failed")
            raise UserError(first, details=rest)
        print(format_report(rep))
        return rep

    with running_emulators(seed=SEED, size=SIZE, data_file=str(data_file)) as emu:
        os.environ.update(emu.env)
        print(
            f"Powerofficego emulator at {emu.powerofficego.url}, Crmoffice emulator at "
            f"{emu.crmoffice.url} (seed {SEED}, {SIZE} records per datatype)"
        )
        rep = sync("1. initial load: every source record gets exactly one partner")
        for i in range(2, MAX_SETTLE_RUNS + 1):
            if rep.writes == 0:
                break
            rep = sync(
                f"1.{i} the next run reads the sync's own writes back: they are not edits (S5)"
            )

        print("\n== 2. edits in the systems, through their APIs")
        for line in _edit_both_sides(emu, settings):
            print("  " + line)

        rep = sync("3. sync after the edits")
        _explain(rep)

        before = emu.write_requests()
        rep = sync("4. sync without changes")
        after = emu.write_requests()
        print(f"\nwrite requests during step 4: {after - before} (a steady state writes nothing)")

    env_file = base / "demo.env"
    env_file.write_text(
        "\n".join(
            [
                f"TALK_ASSETS_HOME={base}",
                f"TALK_ASSETS_TENANT={TENANT}",
                f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}",
                "POWEROFFICEGO_BASE_URL=http://127.0.0.1:8701/v2",
                "POWEROFFICEGO_TOKEN_URL=http://127.0.0.1:8701/OAuth/Token",
                "CRMOFFICE_BASE_URL=http://127.0.0.1:8702",
                "CRMOFFICE_TOKEN_URL=http://127.0.0.1:8702/connect/token",
            ]
        )
        + "\n"
    )
    print(
        f"\nDone in {time.monotonic() - started:.0f} s; the emulators are stopped.\n"
        "Open the same state in the Dagster UI (runs, assets, checks, lineage tables):\n"
        f"  uv run talk-assets emulate --data-file {data_file} &\n"
        f"  set -a; . {env_file}; set +a; uv run dagster dev -w workspace.yaml\n"
        "Per property: uv run talk-assets lineage crmoffice.contacts.givenName --tenant demo"
    )
    return 0


def _edit_both_sides(emu, settings) -> list[str]:
    po, crm = emu.powerofficego.client(), emu.crmoffice.client()
    done = []
    employee_contacts = linked_ids(
        settings.store(), "powerofficego.employees", "crmoffice.contacts"
    )
    customer_contacts = linked_ids(
        settings.store(), "powerofficego.customers", "crmoffice.contacts"
    )
    used: set[str] = set()
    if employee_contacts:
        emp_id, contact_id = employee_contacts[0]
        used.add(contact_id)
        contact = crm.get(f"/contacts/{contact_id}").raise_for_status().json()
        new = f"{contact.get('givenName') or ''}-Marie".lstrip("-")
        crm.patch(
            f"/contacts/{contact_id}",
            json={"givenName": new},
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()
        done.append(
            f"Crmoffice contact {contact_id}: givenName {contact.get('givenName')!r} -> {new!r} "
            f"(linked to Powerofficego employee {emp_id})"
        )
        if len(employee_contacts) > 1:
            emp_id, _ = employee_contacts[1]
            _po_patch(po, f"/Employees/{emp_id}", "PhoneNumber", "+47 912 34 567")
            done.append(f"Powerofficego employee {emp_id}: PhoneNumber -> '+47 912 34 567'")
    for cust_id, contact_id in customer_contacts:
        if contact_id in used:
            continue
        _po_patch(po, f"/Customers/{cust_id}", "FirstName", "Conflict-in-PowerOffice")
        time.sleep(0.05)  # Crmoffice's edit is the later one: it wins (S4)
        crm.patch(
            f"/contacts/{contact_id}",
            json={"givenName": "Conflict-in-Crmoffice"},
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()
        done.append(
            f"conflict: Powerofficego customer {cust_id} FirstName and Crmoffice contact "
            f"{contact_id} givenName both edited; Crmoffice's edit is the newer"
        )
        break
    return done


def _po_patch(po, path: str, field: str, value: str) -> None:
    po.patch(
        path,
        json=[{"op": "replace", "path": f"/{field}", "value": value}],
        headers={"Content-Type": "application/json-patch+json"},
    ).raise_for_status()


def _explain(rep) -> None:
    if rep.moves is not None and rep.moves.height:
        print("\nwhat moved where, and why:")
        for r in rep.moves.sort("datatype", "record_id").iter_rows(named=True):
            print(
                f"  {r['datatype']}:{r['record_id']} {r['property']}: {r['old_value']!r} -> "
                f"{r['new_value']!r}  from {r['source_record']}  ({r['reason']})"
            )
    if rep.conflicts is not None and rep.conflicts.height:
        print("\nconflicts (both sides changed; the most recent change wins):")
        for r in rep.conflicts.iter_rows(named=True):
            print(
                f"  {r['source']} vs {r['target']} {r['property']}: {r['source_value']!r} vs "
                f"{r['target_value']!r} -> {r['value']!r} ({r['reason']})"
            )
