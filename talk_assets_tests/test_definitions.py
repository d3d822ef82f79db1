import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load():
    from talk_assets.definitions import defs

    defs.get_repository_def().load_all_definitions()


def test_dagster_definitions_validate_accepts_the_workspace(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path), "TALK_ASSETS_HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_published_table_has_described_columns_and_lineage_names_existing_columns():
    from talk_assets.defs.build import build_definitions
    from talk_assets.defs.flow_tables import KEY_COLUMNS

    specs = {s.key: s for s in build_definitions().resolve_all_asset_specs()}
    schemas = {k: s.metadata["dagster/column_schema"] for k, s in specs.items()}
    assert set(schemas) == set(specs)  # every asset: sources, talk/*, flows/*, sinks/*
    for key, schema in schemas.items():
        undescribed = [c.name for c in schema.columns if not c.description]
        assert not undescribed, f"{key.to_user_string()}: {undescribed}"
    linked = 0
    for key, spec in specs.items():
        lineage = spec.metadata.get("dagster/column_lineage")
        if lineage is None:
            continue
        own = {c.name for c in schemas[key].columns}
        assert set(lineage.deps_by_column) <= own, key.to_user_string()
        for column, deps in lineage.deps_by_column.items():
            for dep in deps:
                upstream = {c.name for c in schemas[dep.asset_key].columns}
                assert dep.column_name in upstream, (key, column, dep)
                linked += 1
        if key.path[0] == "flows":
            columns = [c.name for c in schemas[key].columns]
            assert columns[: len(KEY_COLUMNS)] == list(KEY_COLUMNS)
            assert set(lineage.deps_by_column) == set(columns) - set(KEY_COLUMNS)
    assert linked > 50
    crm = {c.name: c.description for c in schemas[AssetKey(["crmoffice", "contacts"])].columns}
    assert "record id" in crm["id"] and "read-only" in crm["id"]
    assert "writable" in crm["givenName"]
