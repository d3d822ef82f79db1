"""Answers per row against the real emulators: a dry run that changes no state and lists its
planned rows, reasons below the run table, retrying rejected rows, and live progress."""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from talk_assets.defs.runner import format_report, run_sync
from talk_assets.store.tenant import TenantStore

from .conftest import World
from .test_operate import talk_assets
from .test_rules import linked_pair

pytestmark = pytest.mark.e2e


def tables(path: Path) -> dict[str, pl.DataFrame]:
    """Every table of a DuckDB file, rows sorted: what 'unchanged' is compared by."""
    store = TenantStore(path).read_only()
    names = store.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = current_database() order by 1, 2"
    )
    out = {}
    for schema, name in names.iter_rows():
        frame = store.query(f'select * from "{schema}"."{name}"')
        out[f"{schema}.{name}"] = frame.sort(frame.columns, nulls_last=True)
    return out


def edit_both_sides(world: World) -> tuple[str, str]:
    project, activity = linked_pair(world, "powerofficego.projects", "crmoffice.activities")
    world.crm_patch(f"/activities/{activity}", subject="Renamed by the dry-run test")
    return project, activity


def test_a_dry_run_changes_no_state_and_lists_its_planned_rows(world: World):
    world.settle()
    project, _ = edit_both_sides(world)
    before = tables(world.store.path)
    files = sorted(p.name for p in world.home.iterdir())
    writes = world.write_requests()

    rep = world.sync(dry_run=True)

    assert rep.success, rep.error
    after = tables(world.store.path)
    assert after.keys() == before.keys()
    for name, frame in before.items():  # not one table changed
        assert after[name].equals(frame, null_equal=True), name
    assert sorted(p.name for p in world.home.iterdir()) == files  # the scratch copy is gone
    assert world.write_requests() == writes
    planned = rep.planned
    assert planned is not None
    row = planned.filter(pl.col("record") == f"powerofficego.projects:{project}").row(0, named=True)
    assert row["property"] == "Name" and row["new_value"] == "Renamed by the dry-run test"
    assert row["operation"] == "update" and row["why"] and row["flow"]

    # the edit was not used up by the dry run: the real run still finds and writes it
    real = world.sync()
    assert real.success and real.writes >= 1
    assert world.po(f"/Projects/{project}")["Name"] == "Renamed by the dry-run test"


def test_sync_dry_run_output_writes_the_planned_rows(world: World, tmp_path: Path):
    world.settle()
    project, _ = edit_both_sides(world)
    out_json, out_csv = tmp_path / "plan.json", tmp_path / "plan.csv"
    proc = talk_assets("sync", "--dry-run", "--output", str(out_json))
    assert proc.returncode == 0, proc.stderr
    assert "planned rows (" in proc.stdout and "Renamed by the dry-run test" in proc.stdout
    assert "plan all flows" not in proc.stderr  # no progress when stderr is not a terminal
    rows = json.loads(out_json.read_text())
    assert any(
        r["record"] == f"powerofficego.projects:{project}" and r["property"] == "Name" for r in rows
    )
    assert set(rows[0]) == {
        "operation",
        "datatype",
        "record",
        "property",
        "old_value",
        "new_value",
        "why",
        "flow",
    }
    proc = talk_assets("sync", "--dry-run", "--output", str(out_csv))
    assert proc.returncode == 0, proc.stderr
    csv_rows = pl.read_csv(out_csv, infer_schema=False)
    assert csv_rows.height == len(rows)
    bad = talk_assets("sync", "--output", str(out_csv))
    assert bad.returncode == 2 and "--dry-run" in bad.stderr


def reject_an_owner(world: World) -> str:
    project, activity = linked_pair(world, "powerofficego.projects", "crmoffice.activities")
    world.crm_patch(f"/activities/{activity}", ownerId="not-a-number")
    return project


def test_the_run_table_explains_its_rejects_with_counts(world: World):
    world.settle()
    reject_an_owner(world)
    rep = world.sync()
    assert rep.success, rep.error
    text = format_report(rep)
    line = next(line for line in text.splitlines() if line.startswith("rejected "))
    assert 'x "ProjectManagerEmployeeId: ' in line and "(powerofficego.projects)" in line


def test_retry_rejected_plans_rejected_rows_again_although_nothing_changed(world: World):
    world.settle()
    project = reject_an_owner(world)
    assert world.sync().success
    quiet = world.sync()
    assert quiet.success and quiet.skipped  # nothing changed: planning skipped, nothing retried

    retry = world.sync(retry_rejected=True)
    assert retry.success and not retry.skipped
    again = world.state("sync_log").filter(
        (pl.col("run_id") == retry.run_id) & (pl.col("operation") == "reject")
    )
    assert again.filter(pl.col("source_record") == f"powerofficego.projects:{project}").height
    assert any("ProjectManagerEmployeeId" in line for line in format_report(retry).splitlines())


def test_progress_shows_reads_planning_and_writes_on_a_terminal(world: World):
    world.settle()
    edit_both_sides(world)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=140)
    rep = run_sync(
        world.settings(),
        instance=world.instance,
        resources=world.resources(),
        progress=console,
    )
    assert rep.success, rep.error
    shown = buffer.getvalue()
    assert "read powerofficego.projects" in shown
    assert "plan all flows" in shown
    assert "write powerofficego.projects" in shown and "writes" in shown


def test_log_lists_the_sync_log_with_filters(world: World):
    world.settle()
    project = reject_an_owner(world)
    assert world.sync().success
    proc = talk_assets("log", "--run", "last", "--operation", "reject", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows and {r["operation"] for r in rows} == {"reject"}
    assert len({r["run_id"] for r in rows}) == 1
    mine = f"powerofficego.projects:{project}"
    assert any(r["source_record"] == mine and "not-a-number" in r["properties"] for r in rows)

    proc = talk_assets("log", "--record", mine, "--limit", "5")
    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if "operation" in line)
    assert header.index("time") < header.index("operation") < header.index("record")
    assert mine in proc.stdout and "reject" in proc.stdout

    assert talk_assets("log", "--run", "no-such-run").returncode == 1
    bad = talk_assets("log", "--operation", "deleted")
    assert bad.returncode == 2 and "insert, update" in bad.stderr
    unknown = talk_assets("log", "--tenant", "nobody")
    assert unknown.returncode == 1 and "unknown tenant 'nobody'" in unknown.stderr


def test_lineage_honours_the_tenant_variable_and_names_unknown_ones(world: World):
    world.settle()
    project, _ = linked_pair(world, "powerofficego.projects", "crmoffice.activities")
    prop = "powerofficego.projects.Name"
    missing = talk_assets("lineage", prop, "--id", project, TALK_ASSETS_TENANT="acme")
    assert missing.returncode == 1
    assert "unknown tenant 'acme'" in missing.stderr and "default" in missing.stderr

    (world.home / "acme.duckdb").write_bytes(world.store.path.read_bytes())
    found = talk_assets("lineage", prop, "--id", project, TALK_ASSETS_TENANT="acme")
    assert found.returncode == 0, found.stderr
    assert f"value history of powerofficego.projects:{project} Name" in found.stdout

    flag = talk_assets("lineage", prop, "--id", project, "--tenant", "nope")
    assert flag.returncode == 1 and "unknown tenant 'nope'" in flag.stderr
    record = talk_assets("lineage", prop, "--id", "999999999")
    assert record.returncode == 1
    assert "unknown record powerofficego.projects:999999999" in record.stderr
