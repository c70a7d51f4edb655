"""Shared fixtures: the built library, the JuliaHub test server, isolation.

Nothing is built here: run `cargo build` and `cargo build -p
hubauth-testkit` first (target/debug/libhubauth.so and
target/debug/hubauth-test-server). HUBAUTH_LIB and HUBAUTH_TEST_SERVER
override the paths; CARGO_TARGET_DIR is honoured.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO = PYTHON_DIR.parents[1]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
LIB = Path(os.environ.get("HUBAUTH_LIB") or TARGET / "debug" / "libhubauth.so")
SERVER_BIN = Path(
    os.environ.get("HUBAUTH_TEST_SERVER") or TARGET / "debug" / "hubauth-test-server"
)
HEADER = REPO / "include" / "hubauth.h"


def pytest_configure(config):
    missing = []
    if not LIB.is_file():
        missing.append(f"the library {LIB} (run `cargo build` in {REPO})")
    if not SERVER_BIN.is_file():
        missing.append(
            f"the test server {SERVER_BIN} (run `cargo build -p hubauth-testkit` in {REPO})"
        )
    if missing:
        raise pytest.UsageError("hubauth tests need:\n  " + "\n  ".join(missing))
    # The binding loads exactly the build under test (the library itself never
    # reads HUBAUTH_LIB). Subprocesses (the venv test) inherit it.
    os.environ["HUBAUTH_LIB"] = str(LIB)
    sys.path.insert(0, str(PYTHON_DIR))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No test may read or write the real ~/.julia or open a browser: the
    library runs in this process and sees this environment."""
    monkeypatch.setenv("JULIA_DEPOT_PATH", str(tmp_path / "depot"))
    for name in (
        "JULIA_PKG_SERVER",
        "JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE",
        "JULIA_PKG_AUTHENTICATION_DEVICE_CLIENT_ID",
        "DISPLAY",
        "WAYLAND_DISPLAY",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("DHCORE_"):  # the dhcore provider reads them
            monkeypatch.delenv(name)


class HubTestServer:
    """`hubauth-test-server <protocol> ...`, serving until its stdin closes."""

    protocol = ""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(SERVER_BIN), self.protocol, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("URL="):
            self.close()
            raise RuntimeError(f"the test server did not start (said {line!r})")
        self.url = line[len("URL="):]

    def request(self, method: str, path: str, body: Optional[dict] = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def stats(self) -> dict:
        return json.loads(self.request("GET", "/_test/stats"))

    def configure(self, **config) -> dict:
        return json.loads(self.request("POST", "/_test/config", config))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # our own child, by its PID
                self.proc.wait()
        self.proc.stdout.close()


class JuliaHubServer(HubTestServer):
    """`hubauth-test-server juliahub ...`"""

    protocol = "juliahub"

    def revoke(self) -> int:
        return json.loads(self.request("POST", "/_test/revoke", {}))["revoked_logins"]

    def issue(self, ttl_s: Optional[int] = None, user: Optional[str] = None) -> str:
        """A fresh login as auth.toml text (secrets: never print it)."""
        query = "&".join(
            f"{k}={v}" for k, v in (("ttl_s", ttl_s), ("user", user)) if v is not None
        )
        return self.request("POST", "/_test/issue" + (f"?{query}" if query else "")).decode()


class DhCoreServer(HubTestServer):
    """`hubauth-test-server dhcore ...`: DHCore's GET /api/auth."""

    protocol = "dhcore"


@pytest.fixture
def start_server():
    """Factory: start_server("--auto-approve", ...) -> JuliaHubServer (stopped after the test)."""
    servers: List[JuliaHubServer] = []

    def start(*args: str) -> JuliaHubServer:
        s = JuliaHubServer(*args)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def start_dhcore():
    """Factory: start_dhcore("--basic", "ann:pw", ...) -> DhCoreServer (stopped after the test)."""
    servers: List[DhCoreServer] = []

    def start(*args: str) -> DhCoreServer:
        s = DhCoreServer(*args)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def server(start_server) -> JuliaHubServer:
    """A device-flow server that waits for a browser visit to approve a login."""
    return start_server()


@pytest.fixture
def auto_server(start_server) -> JuliaHubServer:
    """A device-flow server that approves every login at its first poll, at once."""
    return start_server("--auto-approve", "--device-interval", "0")


def toml_string(toml: str, key: str) -> str:
    m = re.search(rf'^{key}\s*=\s*"([^"]*)"', toml, re.M)
    assert m, f"no {key} in the token file"
    return m.group(1)


def toml_int(toml: str, key: str) -> int:
    m = re.search(rf"^{key}\s*=\s*(-?\d+)", toml, re.M)
    assert m, f"no {key} in the token file"
    return int(m.group(1))


@pytest.fixture
def token_path(tmp_path) -> Path:
    return tmp_path / "tokens" / "auth.toml"


def visit(url: str) -> int:
    """What a browser does: open the login URL (approves on the test server)."""
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status


class ApiServer:
    """A tiny HTTP API on 127.0.0.1: `decide(token) -> status` per request;
    records (method, token, body) of every request."""

    def __init__(self, decide: Callable[[str], int]) -> None:
        self.decide = decide
        self.seen: List[Dict[str, object]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                header = self.headers.get("Authorization", "")
                token = header[len("Bearer "):] if header.startswith("Bearer ") else ""
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append({"method": self.command, "token": token, "body": body})
                status = outer.decide(token)
                payload = b'{"ok": true}' if status == 200 else b'{"error": "unauthorized"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args) -> None:  # quiet, and never log headers
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def tokens(self) -> List[str]:
        return [str(s["token"]) for s in self.seen]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api_server():
    servers: List[ApiServer] = []

    def start(decide: Callable[[str], int]) -> ApiServer:
        s = ApiServer(decide)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()
