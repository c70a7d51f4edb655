"""DagsHub renegotiation through the public Python API (token_auth.py:42-45):
on a 401 the real client first asks /api/v1/user whether the token is still
good, and drops it only when that check fails. A 401 from a permission
error, a proxy or a transient fault must not cost an app token the server
still accepts.

The DagsHub test server's data API (`GET /api/v1/repos/...`) answers 401 to
a valid token as often as `reject_valid` says; `/api/v1/user` still accepts
it.
"""

from __future__ import annotations

import json
import re
import select
import subprocess
import urllib.request

import httpx
import pytest
import requests

import hubauth
import hubauth.httpx
import hubauth.requests

from conftest import SERVER_BIN


class DagsHubServer:
    """`hubauth-test-server dagshub`, serving until its stdin closes."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(SERVER_BIN), "dagshub"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("URL="):
            self.close()
            raise RuntimeError(f"the test server did not start (said {line!r})")
        self.url = line[len("URL="):]

    def call(self, path: str, body=None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        method = "GET" if path == "/_test/stats" else "POST"
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # our own child, by its PID
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def dagshub(tmp_path):
    server = DagsHubServer()
    first = server.call("/_test/issue")["access_token"]
    second = server.call("/_test/issue")["access_token"]
    cache = tmp_path / "dagshub" / "tokens"
    cache.parent.mkdir()
    entry = "- access_token: '{}'\n  expiry: never\n  token_type: app-token\n"
    cache.write_text(f"{server.url}:\n" + entry.format(first) + entry.format(second) + "version: '1'\n")
    cache.chmod(0o600)
    auth = hubauth.authenticate(
        server.url, provider="dagshub", token_path=str(cache), interactive=False
    )
    assert auth.token.reveal() == first
    yield server, auth, cache, first, second
    server.close()


def cached_tokens(cache) -> list:
    return re.findall(r"access_token: '?([0-9a-f]+)'?", cache.read_text())


@pytest.mark.parametrize("client", ["httpx", "requests"])
def test_a_401_for_a_good_token_keeps_it(dagshub, client):
    server, auth, cache, first, second = dagshub
    server.call("/_test/config", {"reject_valid": 1})
    url = f"{server.url}/api/v1/repos/alice/data"
    if client == "httpx":
        with httpx.Client(auth=hubauth.httpx.HubAuth(auth)) as c:
            r = c.get(url)
    else:
        with requests.Session() as s:
            r = s.get(url, auth=hubauth.requests.HubAuth(auth))
    assert r.status_code == 200, r.text
    stats = server.call("/_test/stats")
    assert stats["data_rejected_valid"] == 1
    assert stats["user_call_tokens"][-1] == first, "the token was checked at /api/v1/user"
    assert auth.token.reveal() == first
    assert cached_tokens(cache) == [first, second], "the good app token was not dropped"


@pytest.mark.parametrize("client", ["httpx", "requests"])
def test_a_revoked_token_is_dropped_and_the_next_used(dagshub, client):
    server, auth, cache, first, second = dagshub
    server.call("/_test/revoke", {"token": first})
    url = f"{server.url}/api/v1/repos/alice/data"
    if client == "httpx":
        with httpx.Client(auth=hubauth.httpx.HubAuth(auth)) as c:
            r = c.get(url)
    else:
        with requests.Session() as s:
            r = s.get(url, auth=hubauth.requests.HubAuth(auth))
    assert r.status_code == 200, r.text
    assert auth.token.reveal() == second
    assert cached_tokens(cache) == [second]
