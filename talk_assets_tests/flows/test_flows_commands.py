import subprocess
import sys
from pathlib import Path

import pytest

from talk_assets.flows.document import parse_document, render_document
from talk_assets.flows.spec import (
    SPECS_DIR,
    committed_documents,
    committed_spec_files,
    load_document,
    load_spec_file,
)

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
SEED_SPECS = {
    "000_265dbc7c6246be08.txt": "powerofficego_to_crmoffice.yaml",
    "003_f422fd5dec3f0e74.txt": "powerofficego_to_powerofficego.yaml",
}
# Runs the CLI in a fresh interpreter, then reports which heavy packages it imported: the flows
# commands must stay quick, so never Dagster, polars or httpx.
RUN_AND_REPORT = """\
import sys
from talk_assets.cli import main
code = main(sys.argv[1:])
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"dagster", "polars", "httpx"})
print("HEAVY", heavy, file=sys.stderr)
sys.exit(code)
"""


def talk_assets(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "HEAVY []" in proc.stderr, proc.stderr
    return proc


@pytest.mark.parametrize(("seed", "spec"), SEED_SPECS.items())
def test_import_prints_the_committed_spec(seed, spec):
    proc = talk_assets("flows", "import", str(SEEDS / seed))
    assert proc.returncode == 0, proc.stderr
    assert load_document(proc.stdout) == load_spec_file(SPECS_DIR / spec)
    assert proc.stdout == (SPECS_DIR / spec).read_text(encoding="utf-8")


def test_import_of_a_malformed_document_fails_with_the_line(tmp_path):
    bad = tmp_path / "bad.rst"
    text = (SEEDS / "000_265dbc7c6246be08.txt").read_text(encoding="utf-8")
    bad.write_text(text.replace("   * - LastName", "   * LastName", 1), encoding="utf-8")
    proc = talk_assets("flows", "import", str(bad))
    assert proc.returncode == 1
    assert proc.stdout == ""
    line = text[: text.index("   * - LastName")].count("\n") + 1
    assert f"{bad}:{line}: expected a list-table row '* - ...', got '* LastName'" in proc.stderr


def test_import_of_a_missing_file_fails(tmp_path):
    proc = talk_assets("flows", "import", str(tmp_path / "missing.rst"))
    assert proc.returncode == 1
    assert "missing.rst" in proc.stderr


@pytest.mark.parametrize("spec", committed_spec_files(), ids=lambda p: p.name)
def test_render_then_import_gives_the_spec_back(spec, tmp_path):
    proc = talk_assets("flows", "render", str(spec))
    assert proc.returncode == 0, proc.stderr
    document = tmp_path / "rendered.rst"
    document.write_text(proc.stdout, encoding="utf-8")
    assert parse_document(proc.stdout) == load_spec_file(spec)
    proc = talk_assets("flows", "import", str(document))
    assert proc.returncode == 0, proc.stderr
    assert load_document(proc.stdout) == load_spec_file(spec)


def test_render_without_a_spec_renders_every_committed_spec():
    proc = talk_assets("flows", "render")
    assert proc.returncode == 0, proc.stderr
    rendered = [render_document(doc) for doc in committed_documents()]
    assert proc.stdout == "".join(rendered)
    assert all(text.endswith("\n\n") for text in rendered)  # a blank line between documents


def test_render_of_a_bad_spec_fails(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("title: t\n", encoding="utf-8")
    proc = talk_assets("flows", "render", str(spec))
    assert proc.returncode == 1
    assert "missing key(s) ['flows']" in proc.stderr
