"""DHCore user + password through the public Python API: the adapters must
send real HTTP Basic (auth_handler.py:108-111), `Authorization: Basic
base64(user:password)`, never `Bearer Basic ...`. The DHCore test server's
`/api/auth` accepts exactly that. Fails until the adapters use the library's
authorization value (another branch)."""

from __future__ import annotations

import select
import subprocess

import httpx
import pytest
import requests

import hubauth
import hubauth.httpx
import hubauth.requests

from conftest import SERVER_BIN


@pytest.fixture
def dhcore(tmp_path, monkeypatch):
    proc = subprocess.Popen(
        [str(SERVER_BIN), "dhcore", "--basic", "ann:pa ss:wörd"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline().strip() if ready else ""
    assert line.startswith("URL="), line
    url = line[len("URL="):]
    for name in ("DHCORE_PERSONAL_ACCESS_TOKEN", "DHCORE_ACCESS_TOKEN", "DHCORE_REFRESH_TOKEN", "DH_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DHCORE_ENDPOINT", url)
    monkeypatch.setenv("DHCORE_USER", "ann")
    monkeypatch.setenv("DHCORE_PASSWORD", "pa ss:wörd")
    yield url, tmp_path / ".dhcore.ini"
    proc.stdin.close()
    proc.wait(timeout=10)  # our own child
    proc.stdout.close()


@pytest.mark.parametrize("client", ["httpx", "requests"])
def test_basic_credentials_reach_the_server_as_http_basic(dhcore, client):
    url, ini = dhcore
    auth = hubauth.authenticate(provider="dhcore", token_path=str(ini), interactive=False)
    if client == "httpx":
        with httpx.Client(auth=hubauth.httpx.HubAuth(auth)) as c:
            r = c.get(f"{url}/api/auth")
    else:
        r = requests.get(f"{url}/api/auth", auth=hubauth.requests.HubAuth(auth), timeout=10)
    assert r.status_code == 200, r.text
