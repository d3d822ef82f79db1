import os
import subprocess
import sys
from pathlib import Path

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
