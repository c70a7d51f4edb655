"""The Authorization header value comes from the library
(hubauth_authorization): Bearer for token hubs, Basic for DHCore user and
password credentials. The adapters send it as it is; no binding picks the
scheme. And hooks given to the library are freed by it (hook_full)."""

from __future__ import annotations

import base64
import gc

import httpx
import requests

import hubauth
import hubauth.httpx
import hubauth.requests
from hubauth import _api

from conftest import toml_string


def dhcore_ini(path, endpoint: str, user: str, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"[__default]\ndhcore_endpoint = {endpoint}\ndhcore_user = {user}\n"
        f"dhcore_password = {password}\n"
    )
    path.chmod(0o600)


def test_dhcore_user_password_sends_basic(start_dhcore, tmp_path):
    api = start_dhcore("--basic", "ann:s3cret-pw")
    ini = tmp_path / "dhcore" / ".dhcore.ini"
    dhcore_ini(ini, api.url, "ann", "s3cret-pw")
    auth = hubauth.authenticate(provider="dhcore", token_path=ini, interactive=False)
    expected = "Basic " + base64.b64encode(b"ann:s3cret-pw").decode()
    with auth.authorization as header:
        assert header.reveal() == expected
    assert repr(auth.authorization) == "Secret('*****')"

    before = api.stats()
    r = requests.get(f"{api.url}/api/auth", auth=hubauth.requests.HubAuth(auth), timeout=10)
    assert r.status_code == 200 and r.request.headers["Authorization"] == expected
    with httpx.Client(auth=hubauth.httpx.HubAuth(auth)) as client:
        r2 = client.get(f"{api.url}/api/auth")
    assert r2.status_code == 200 and r2.request.headers["Authorization"] == expected
    after = api.stats()
    # Both requests reached /api/auth with Basic and were accepted; no Bearer.
    assert after["basic_requests"] - before["basic_requests"] == 2
    assert after["accepted"] - before["accepted"] == 2
    assert after["bearer_requests"] == before["bearer_requests"]


def test_dhcore_wrong_password_is_refused_with_basic(start_dhcore, tmp_path):
    api = start_dhcore("--basic", "ann:right")
    ini = tmp_path / "dhcore" / ".dhcore.ini"
    dhcore_ini(ini, api.url, "ann", "n0t-the-pw-7x")
    try:
        hubauth.authenticate(provider="dhcore", token_path=ini, interactive=False)
    except hubauth.AuthenticationError as e:
        assert "n0t-the-pw-7x" not in str(e)
    else:
        raise AssertionError("a wrong password was accepted")
    assert api.stats()["basic_requests"] >= 1 and api.stats()["accepted"] == 0


def test_token_hubs_send_bearer(server, token_path):
    token_path.parent.mkdir(parents=True)
    toml = server.issue()
    token_path.write_text(toml)
    auth = hubauth.authenticate(server.url, token_path=token_path, interactive=False)
    assert auth.authorization.reveal() == "Bearer " + toml_string(toml, "id_token")
    assert auth.authorization.reveal() == "Bearer " + auth.token.reveal()


def hooks_now() -> int:
    with _api._hooks_lock:
        return len(_api._hooks)


def test_the_library_frees_a_hook_after_its_last_authentication(server, token_path):
    base = hooks_now()
    token_path.parent.mkdir(parents=True)
    token_path.write_text(server.issue())
    calls = []
    auth = hubauth.authenticate(server.url, token_path=token_path, interactive=False,
                                hook=calls.append)
    # The options are gone; the authentication (and hubauth_current) keep the hook.
    assert hooks_now() == base + 1
    current = hubauth.current_authentication()
    del auth, current
    gc.collect()
    assert hooks_now() == base + 1, "still the current authentication"
    # Another login becomes current: the library drops the last copy.
    other = hubauth.authenticate(server.url, token="not-a-real-token", validate=False)
    assert hooks_now() == base
    assert calls == []
    other.close()


def test_a_hook_for_one_reauthenticate_is_freed_after_it(auto_server, token_path):
    auth = hubauth.authenticate(auto_server.url, token_path=token_path, interactive=False,
                                hook=lambda url: None)
    base = hooks_now()
    seen = []
    auth.reauthenticate(force=True, hook=seen.append)
    assert len(seen) == 1
    assert hooks_now() == base
    # The hook of authenticate is still there for the next forced login.
    auth.reauthenticate(force=True)
    assert auto_server.stats()["device_tokens_issued"] == 3


def test_a_failing_options_call_frees_the_hook(server):
    base = hooks_now()
    try:
        hubauth.authenticate(server.url, hook=lambda url: None, no_such_option=1)
    except hubauth.InvalidArgumentError:
        pass
    else:
        raise AssertionError("an unknown option was accepted")
    gc.collect()
    assert hooks_now() == base


def hubauth_cli():
    import pytest

    from conftest import TARGET

    cli = TARGET / "debug" / "hubauth"
    if not cli.is_file():
        pytest.skip(f"the CLI {cli} is not built (cargo build --bin hubauth)")
    return cli


def test_cli_token_header_prints_the_library_value(start_dhcore, server, tmp_path, token_path):
    import os
    import subprocess

    cli = hubauth_cli()
    env = dict(os.environ, HOME=str(tmp_path / "home"))
    api = start_dhcore("--basic", "ann:s3cret-pw")
    ini = tmp_path / "dhcore" / ".dhcore.ini"
    dhcore_ini(ini, api.url, "ann", "s3cret-pw")
    out = subprocess.run(
        [str(cli), "token", "--header", "--provider", "dhcore", "--token-path", str(ini)],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Basic " + base64.b64encode(b"ann:s3cret-pw").decode() + "\n"

    token_path.parent.mkdir(parents=True)
    toml = server.issue()
    token_path.write_text(toml)
    token_path.chmod(0o600)
    args = [str(cli), "token", "--server", server.url, "--token-path", str(token_path)]
    plain = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    header = subprocess.run(args + ["--header"], capture_output=True, text=True, env=env, timeout=60)
    assert plain.returncode == 0 and header.returncode == 0, plain.stderr + header.stderr
    assert plain.stdout == toml_string(toml, "id_token") + "\n"
    assert header.stdout == "Bearer " + plain.stdout
