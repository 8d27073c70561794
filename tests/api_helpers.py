"""The analytics API as a test runs it: ``python -m analytics serve`` in its own process on a
free port of 127.0.0.1, tokens made with ``python -m analytics token create``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from conftest import REPO

PREFIX = "/api/analytics"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``python -m analytics ARGS`` with the deployment's environment ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "analytics", *args], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True
    )


def create_token(env: dict[str, str], role: str, label: str = "") -> str:
    """A new token of ``role``: the last line ``token create`` prints."""
    done = cli(env, "token", "create", "--role", role, "--label", label)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@dataclass
class ApiServer:
    url: str
    process: subprocess.Popen
    log: Path
    env: dict[str, str]

    def get(self, path: str, token: str | None = None, **params) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}{PREFIX}/{path}", params=params, headers=headers, timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_api(env: dict[str, str], log: Path) -> ApiServer:
    """Start the API on the data dir of ``env``; returns once it answers (or fails with its log)."""
    port = free_port()
    env = {**env, "FOOTFALL_API_HOST": "127.0.0.1", "FOOTFALL_API_PORT": str(port)}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "analytics", "serve"],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", process, log, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{server.url}{PREFIX}/openapi.json", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"the API did not answer within 60 s: {log.read_text()}")
