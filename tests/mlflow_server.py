"""Test helper: an `mlflow server` on loopback over a given store, read through REST."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def search_runs(base: str, experiment: str) -> tuple[dict, list[dict]]:
    """The experiment (by name) and all its runs, through the REST API."""
    q = urllib.parse.urlencode({"experiment_name": experiment})
    exp = get(f"{base}/api/2.0/mlflow/experiments/get-by-name?{q}")["experiment"]
    found = post(
        f"{base}/api/2.0/mlflow/runs/search",
        {"experiment_ids": [exp["experiment_id"]], "max_results": 1000},
    )
    return exp, found.get("runs", [])


@contextlib.contextmanager
def mlflow_server(store_uri: str, workdir: Path) -> Iterator[str]:
    """Start `mlflow server` on a free loopback port; yield its base URL; always stop it."""
    exe = Path(sys.executable).parent / "mlflow"
    if not exe.exists():
        pytest.skip(f"mlflow executable not found next to {sys.executable}")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_file = open(workdir / "server.log", "w+b")  # noqa: SIM115 (closed in finally)
    # No telemetry; no background job runner (LLM-judge jobs, unused here; it slows shutdown).
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [
            str(exe), "server",
            "--backend-store-uri", store_uri,
            "--default-artifact-root", str(workdir / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=log_file, stderr=subprocess.STDOUT, cwd=workdir, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log_file.seek(0)
                tail = log_file.read().decode(errors="replace")[-3000:]
                pytest.fail(f"mlflow server did not come up (rc={proc.poll()}):\n{tail}")
            time.sleep(0.5)
        yield base
    finally:
        _stop_group(proc)
        log_file.close()


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (mlflow server + its uvicorn child), then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)  # anybody left in the group?
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)
