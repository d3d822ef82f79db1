import subprocess
import sys

import pytest

from talk_assets.cli import build_parser

COMMANDS = ["emulate", "sync", "demo", "lineage", "flows import", "flows render"]


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


def test_parser_knows_every_command_of_systems_md():
    parser = build_parser()
    args = parser.parse_args(["sync", "--tenant", "t", "--dry-run", "--allow-mass-write"])
    assert (args.tenant, args.dry_run, args.allow_mass_write) == ("t", True, True)
    args = parser.parse_args(["lineage", "crmoffice.contacts.givenName", "--id", "7"])
    assert (args.property, args.record_id) == ("crmoffice.contacts.givenName", "7")
