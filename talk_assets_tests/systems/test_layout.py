"""The systems package's layout: every module imports on its own (no import circles), none is
much over 400 lines, and nothing outside a system's folder names the system except the
registry, the committed flow specs and the demo's scripted edits."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import talk_assets
from talk_assets.systems import registry

ROOT = Path(talk_assets.__file__).parent
SYSTEMS = ROOT / "systems"
MODULES = sorted(
    ".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in SYSTEMS.rglob("*.py")
)
ALLOWED = {
    "systems/registry.py",
    "commands/demo.py",  # the demo's scripted edits
}


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone(module: str) -> None:
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, timeout=120)


def test_no_module_is_much_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in SYSTEMS.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420
    }
    assert not long


def test_nothing_outside_a_system_folder_names_a_system() -> None:
    names = re.compile("|".join(registry.names()), re.IGNORECASE)
    folders = {f"systems/{name}/" for name in registry.names()}
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ALLOWED or any(map(rel.startswith, folders)):
            continue
        if names.search(path.read_text(encoding="utf-8")):
            offenders.append(rel)
    assert not offenders
