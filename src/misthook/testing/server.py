"""Run `misthook init` and `misthook serve` as real subprocesses for end-to-end tests."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from misthook.testing.client import ApiClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def misthook_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "misthook", *args]


def init_database(database: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`misthook init --json`: the ids and a fresh token."""
    out = subprocess.run(
        misthook_cmd("init", "--json", "--database", database),
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    result: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@dataclasses.dataclass
class ServerProcess:
    """A `misthook serve` child process; stop() kills only it, by its pid."""

    database: str
    workdir: Path
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    port: int = dataclasses.field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if any(a.startswith("--tls") for a in self.extra_args) else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def client(self, token: str | None = None) -> ApiClient:
        return ApiClient(self.base_url, token, verify=False)

    def start(self, timeout_s: float = 30.0) -> ServerProcess:
        self.log_path = self.workdir / f"serve-{self.port}.log"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            misthook_cmd(
                "serve", "--database", self.database, "--port", str(self.port), *self.extra_args
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        deadline = time.monotonic() + timeout_s
        client = self.client()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"misthook serve exited early:\n{self.log()}")
            try:
                if client.get("/api/v1/const/webhook_topics").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"misthook serve did not answer within {timeout_s}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """kill -9, as a crash."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
