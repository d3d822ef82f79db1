"""Screenshots of the Dagster UI after a demo-sized sync, to look at what an operator sees.

    uv run python scripts/ui_screenshots.py [--out DIR] [--size N] [--seed N]

Starts both emulators on loopback, runs `talk-assets sync` twice against a temporary home
(the second run reads the sync's own writes back), starts `dagster dev` on loopback against
that home, takes headless Chromium screenshots of the asset graph, a flow asset (overview with
its columns, and its lineage) and a sink's checks, writes them to DIR (default
`./ui_screenshots`) and stops everything. Every step is bounded in time; nothing is left
running. Needs `/usr/bin/chromium` (Debian: `apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 120
SHOT_SECONDS = 60
SYNC_SECONDS = 180
TENANT = "ui"
PAGES = {
    "asset_graph": "/asset-groups",
    "flows_group": "/locations/talk_assets/asset-groups/flows",
    "flow_asset": "/assets/{flow}",
    "flow_lineage": "/assets/{flow}?view=lineage&lineageScope=upstream&lineageDepth=1",
    "flow_checks": "/assets/{flow}?view=checks",
    "failing_check": "/assets/{failing_flow}?view=checks&checkDetail={failing_check}",
    "sink_asset": "/assets/{sink}",
    "sink_checks": "/assets/{sink}?view=checks",
    "plan_asset": "/assets/talk/plan",
    "source_asset": "/assets/{source}",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sync(env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "talk_assets.cli", "sync", "--tenant", TENANT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SYNC_SECONDS,
    )
    print(proc.stdout)
    if proc.returncode:
        raise SystemExit(f"sync failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def wait_ready(base: str, proc: subprocess.Popen, log: Path) -> None:
    """Until the webserver answers and our code location has loaded its assets."""
    deadline = time.monotonic() + READY_SECONDS
    query = {"query": "{ assetNodes { id } }"}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"dagster dev exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            answer = httpx.post(f"{base}/graphql", json=query, timeout=5).json()
            if answer.get("data", {}).get("assetNodes"):
                return
        time.sleep(1)
    raise SystemExit(f"dagster dev not ready in {READY_SECONDS} s:\n{log.read_text()[-3000:]}")


CHECKS = """{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks {
  checks { name executionForLatestMaterialization { status } } } } } }"""


def failing_check(base: str) -> tuple[str, str] | None:
    """(flow asset, check name) of a failed (or warning) check: what a failure looks like."""
    nodes = httpx.post(f"{base}/graphql", json={"query": CHECKS}, timeout=30).json()
    for node in nodes["data"]["assetNodes"]:
        path = node["assetKey"]["path"]
        for check in node["assetChecksOrError"].get("checks", []):
            latest = check["executionForLatestMaterialization"] or {}
            if path[0] == "flows" and latest.get("status") == "FAILED":
                return "/".join(path), check["name"]
    return None


def stop(proc: subprocess.Popen) -> None:
    """SIGINT to the session (dagster dev stops its children), SIGKILL if it hangs."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # stragglers of the session
        os.killpg(proc.pid, signal.SIGKILL)


def screenshot(chromium: str, url: str, path: Path, size: str) -> None:
    """One headless page load, given time to run the UI's queries, then a PNG."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                "--virtual-time-budget=15000",
                f"--screenshot={path}",
                url,
            ],
            capture_output=True,
            timeout=SHOT_SECONDS,
            check=False,
        )
    print(f"{path.name}: {url} ({path.stat().st_size // 1024} KB)" if path.exists() else url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="ui_screenshots", help="folder for the PNGs")
    parser.add_argument("--size", type=int, default=8, help="records per datatype")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--window", default="1600,2000", help="browser window WIDTH,HEIGHT")
    parser.add_argument(
        "--hold", type=int, default=0, help="keep the UI up this many seconds after the shots"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop what was started
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("no chromium on PATH (Debian: apt-get install -y chromium)")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    from talk_assets.defs.flow_tables import flow_key
    from talk_assets.defs.sinks import sink_datatypes, sink_key
    from talk_assets.defs.sources import source_key
    from talk_assets.flows.catalog import active_flows
    from talk_assets.systems import registry, resolve_flow
    from talk_assets.systems.emulator import running_emulators

    flows = [resolve_flow(f) for f in active_flows()]
    names = {
        "flow": flow_key(flows[0]).to_user_string(),
        "sink": sink_key(sink_datatypes(flows)[0]).to_user_string(),
        "source": source_key(flows[0].target).to_user_string(),
    }
    home = Path(tempfile.mkdtemp(prefix="talk_ui_"))
    try:
        with running_emulators(seed=args.seed, size=args.size, rate_limits=False) as emu:
            env = {
                **os.environ,
                **emu.env,
                "TALK_ASSETS_HOME": str(home),
                "TALK_ASSETS_TENANT": TENANT,
                "TALK_ASSETS_ENV_FILE": os.devnull,
                "DAGSTER_HOME": str(home / "dagster"),
                **{f"{name.upper()}_REQUESTS_PER_SECOND": "0" for name in registry.names()},
            }
            env.pop("TALK_ASSETS_AUTOMATION", None)  # schedules and sensors stay stopped
            sync(env)
            sync(env)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            log = home / "dagster_dev.log"
            dev = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml"]
            with log.open("w") as sink:
                proc = subprocess.Popen(
                    [*dev, "-h", "127.0.0.1", "-p", str(port)],
                    cwd=ROOT,
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            try:
                wait_ready(base, proc, log)
                failing = failing_check(base) or (names["flow"], "rejects_below_threshold")
                names["failing_flow"], names["failing_check"] = failing
                for name, page in PAGES.items():
                    path = page.format(**{k: quote(v) for k, v in names.items()})
                    screenshot(chromium, base + path, out / f"{name}.png", args.window)
                if args.hold:
                    print(f"UI at {base} for {args.hold} s", flush=True)
                    time.sleep(args.hold)
            finally:
                stop(proc)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
