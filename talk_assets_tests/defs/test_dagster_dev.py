"""`dagster dev -w workspace.yaml` end to end: the webserver loads the generated graph, lists it
through GraphQL, and a `sync` run launched through GraphQL writes into the emulators.

Everything on loopback; the server runs in its own session and is always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from talk_assets.defs.build import SYNC_JOB
from talk_assets.defs.flow_tables import flow_key
from talk_assets.defs.sinks import sink_datatypes
from talk_assets.flows.spec import committed_flows
from talk_assets.systems import resolve_flow
from talk_assets.systems.emulator import running_emulators

ROOT = Path(__file__).resolve().parents[2]
LOCATION = "talk_assets"
READY_SECONDS = 120
RUN_SECONDS = 120

REPOSITORIES = """
{ repositoriesOrError { __typename
  ... on RepositoryConnection { nodes { name location { name } } }
  ... on PythonError { message } } }
"""
ASSETS = """
{ assetNodes { assetKey { path }
  assetChecksOrError { __typename ... on AssetChecks { checks { name } } } } }
"""
AUTOMATION = """
query ($repo: RepositorySelector!) {
  schedulesOrError(repositorySelector: $repo) { __typename
    ... on Schedules { results { name cronSchedule pipelineName } }
    ... on PythonError { message } }
  sensorsOrError(repositorySelector: $repo) { __typename
    ... on Sensors { results { name } }
    ... on PythonError { message } } }
"""
LAUNCH = """
mutation ($params: ExecutionParams!) {
  launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message } } }
"""
RUN = """
query ($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } ... on Error { message } } }
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_assets() -> set[str]:
    """Every asset key the flow specs generate."""
    flows = [resolve_flow(f) for f in committed_flows()]
    keys = {"talk/clusters", "talk/plan"}
    for f in flows:
        keys.add(flow_key(f).to_user_string())
        for dt in (f.source, f.target):
            keys.add(f"{dt.system}/{dt.name}")
    keys |= {f"sinks/{dt.system}__{dt.name}" for dt in sink_datatypes(flows)}
    return keys


def graphql(client: httpx.Client, query: str, variables: dict | None = None) -> dict:
    answer = client.post("/graphql", json={"query": query, "variables": variables or {}})
    answer.raise_for_status()
    body = answer.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def wait_ready(client: httpx.Client, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if client.get("/server_info", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"dagster dev not ready in {READY_SECONDS} s:\n{log.read_text()[-3000:]}")


def wait_location_loaded(client: httpx.Client) -> dict:
    """The repository of our code location, once the code server has loaded it."""
    deadline = time.monotonic() + READY_SECONDS
    data: dict = {}
    while time.monotonic() < deadline:
        data = graphql(client, REPOSITORIES)["repositoriesOrError"]
        nodes = data.get("nodes", [])
        ours = [n for n in nodes if n["location"]["name"] == LOCATION]
        if ours:
            return ours[0]
        if nodes:  # loaded, under another name: workspace.yaml names the location
            break
        time.sleep(0.5)
    pytest.fail(f"code location {LOCATION} did not load: {data}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(proc: subprocess.Popen) -> tuple[int, bool]:
    """SIGINT to the whole session (dagster dev shuts its children down), SIGKILL if it hangs.
    Returns (exit code, whether any process of the session outlived the shutdown)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = group_alive(proc.pid)
    if survivors:  # nothing of the session may outlive the test
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, survivors


def posts(handle, path: str) -> int:
    return sum(
        r["count"]
        for r in handle.stats()["requests"]
        if r["method"] == "POST" and r["path"] == path
    )


@pytest.mark.e2e
def test_dagster_dev_serves_the_graph_and_runs_a_sync(tmp_path):
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    log = tmp_path / "dagster_dev.log"
    with running_emulators(seed=1, size=10, rate_limits=False) as emu:
        env = {
            **os.environ,
            **emu.env,
            "DAGSTER_HOME": str(dagster_home),
            "TALK_ASSETS_HOME": str(tmp_path / "state"),
            "TALK_ASSETS_TENANT": "dev",
            "TALK_ASSETS_ENV_FILE": os.devnull,
        }
        env.pop("TALK_ASSETS_AUTOMATION", None)  # schedules and sensors stay stopped
        cmd = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml"]
        cmd += ["-h", "127.0.0.1", "-p", str(port)]
        with log.open("w") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                wait_ready(client, proc, log)
                repo = wait_location_loaded(client)
                selector = {"repositoryName": repo["name"], "repositoryLocationName": LOCATION}

                nodes = graphql(client, ASSETS)["assetNodes"]
                keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
                expected = expected_assets()
                assert len([k for k in expected if k.startswith("flows/")]) == 9
                assert "powerofficego/addresses" in expected
                assert expected <= keys, sorted(expected - keys)
                checks = {
                    ("/".join(n["assetKey"]["path"]), c["name"])
                    for n in nodes
                    if n["assetChecksOrError"]["__typename"] == "AssetChecks"
                    for c in n["assetChecksOrError"]["checks"]
                }
                assert ("talk/clusters", "no_record_in_two_clusters") in checks
                assert any(k.startswith("sinks/") for k, _ in checks)
                assert any(k.startswith("flows/") for k, _ in checks)

                auto = graphql(client, AUTOMATION, {"repo": selector})
                schedules = {s["name"]: s for s in auto["schedulesOrError"].get("results", [])}
                assert schedules["sync_every_5_minutes"]["cronSchedule"] == "*/5 * * * *"
                assert schedules["full_read_daily"]["cronSchedule"] == "0 3 * * *"
                assert {s["pipelineName"] for s in schedules.values()} == {SYNC_JOB}
                sensors = {s["name"] for s in auto["sensorsOrError"].get("results", [])}
                assert {"changes_sensor", "record_run_failures"} <= sensors

                contacts_before = posts(emu.crmoffice, "/contacts")
                params = {"selector": {**selector, "jobName": SYNC_JOB}, "runConfigData": {}}
                launched = graphql(client, LAUNCH, {"params": params})["launchRun"]
                assert launched["__typename"] == "LaunchRunSuccess", launched
                run_id = launched["run"]["runId"]

                status = None
                deadline = time.monotonic() + RUN_SECONDS
                while time.monotonic() < deadline:
                    run = graphql(client, RUN, {"runId": run_id})["runOrError"]
                    status = run.get("status")
                    if status in FINISHED:
                        break
                    time.sleep(1)
                assert status == "SUCCESS", f"{status}:\n{log.read_text()[-3000:]}"
            assert posts(emu.crmoffice, "/contacts") > contacts_before
            assert posts(emu.crmoffice, "/activities") > 0
        finally:
            code, survivors = stop(proc)
        assert code is not None  # it exited
        assert not survivors, "a process of dagster dev outlived its shutdown"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2)
