import subprocess
import sys

import pytest

from talk_assets.cli import build_parser

COMMANDS = ["emulate", "sync", "check", "demo", "lineage", "flows import", "flows render"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    proc = subprocess.run(
        [sys.executable, "-m", "talk_assets.cli", *command.split(), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage: talk-assets " + command in proc.stdout
    assert "examples:\n  talk-assets " + command.split()[0] in proc.stdout


def test_version_and_top_level_help():
    from importlib.metadata import version

    proc = subprocess.run(
        [sys.executable, "-m", "talk_assets.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"talk-assets {version('talk-assets')}"
    proc = subprocess.run(
        [sys.executable, "-m", "talk_assets.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    for word in ("check", "TALK_ASSETS_HOME", "<SYSTEM>_<CREDENTIAL>", "talk-assets demo"):
        assert word in proc.stdout


def test_the_program_exits_with_the_commands_code(tmp_path):
    """`entry` (the `talk-assets` program) passes a failing command's code and message on."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "talk_assets.cli",
            "flows",
            "list",
            "--flows",
            str(tmp_path / "missing.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "missing.yaml does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_help_imports_no_dagster():
    code = (
        "import sys; from talk_assets.cli import main\n"
        "try: main(['sync', '--help'])\n"
        "except SystemExit: pass\n"
        "assert 'dagster' not in sys.modules and 'polars' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_parser_knows_every_command_of_systems_md():
    parser = build_parser()
    args = parser.parse_args(["sync", "--tenant", "t", "--dry-run", "--allow-mass-write"])
    assert (args.tenant, args.dry_run, args.allow_mass_write) == ("t", True, True)
    args = parser.parse_args(["lineage", "crmoffice.contacts.givenName", "--id", "7"])
    assert (args.property, args.record_id) == ("crmoffice.contacts.givenName", "7")
    args = parser.parse_args(["sync", "--verbose"])
    assert args.verbose and args.tenant == "default"
    assert parser.parse_args(["check", "--tenant", "t"]).tenant == "t"
