"""hubauth.httpx.HubAuth and hubauth.requests.HubAuth: the bearer header, and
on a 401 exactly one reauthenticate(force=True) and one retry."""

from __future__ import annotations

import asyncio
import io
import threading

import httpx
import pytest
import requests

import hubauth
import hubauth.httpx
import hubauth.requests


@pytest.fixture
def setup(auto_server, token_path, api_server, monkeypatch):
    """A stored login, an API that refuses its token and accepts the next one,
    and a count of reauthenticate calls and hook calls."""
    token_path.parent.mkdir(parents=True)
    token_path.write_text(auto_server.issue())
    hook_calls = []
    auth = hubauth.authenticate(
        auto_server.url, token_path=token_path, interactive=False, hook=hook_calls.append
    )
    old = auth.token.reveal()
    api = api_server(lambda token: 401 if token in ("", old) else 200)

    reauths = []
    original = hubauth.Authentication.reauthenticate

    def counting(self, **kwargs):
        reauths.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(hubauth.Authentication, "reauthenticate", counting)

    class Setup:
        pass

    s = Setup()
    s.auth, s.old, s.api, s.reauths, s.hook_calls, s.hub = auth, old, api, reauths, hook_calls, auto_server
    return s


def assert_one_renewal(s):
    tokens = s.api.tokens()
    assert len(tokens) == 2 and tokens[0] == s.old
    new = tokens[1]
    assert new != s.old and new == s.auth.token.reveal()
    assert s.reauths == [{"force": True}]
    assert len(s.hook_calls) == 1  # the forced login went through the hook
    assert s.hub.stats()["device_tokens_issued"] == 1


def test_httpx_renews_once_on_401(setup):
    s = setup
    with httpx.Client(auth=hubauth.httpx.HubAuth(s.auth)) as client:
        r = client.post(s.api.url + "/data", content=b"payload")
        assert r.status_code == 200 and r.json() == {"ok": True}
        assert [h.status_code for h in r.history] == [401]
        assert_one_renewal(s)
        assert [x["body"] for x in s.api.seen] == [b"payload", b"payload"]
        # Later requests carry the new token straight away.
        assert client.get(s.api.url + "/data").status_code == 200
    assert len(s.api.seen) == 3 and len(s.reauths) == 1


def test_httpx_gives_up_after_one_retry(setup):
    s = setup
    s.api.decide = lambda token: 401
    with httpx.Client(auth=hubauth.httpx.HubAuth(s.auth)) as client:
        r = client.get(s.api.url + "/data")
    assert r.status_code == 401
    assert len(s.api.seen) == 2 and len(s.reauths) == 1


def test_httpx_async(setup):
    s = setup

    async def main():
        async with httpx.AsyncClient(auth=hubauth.httpx.HubAuth(s.auth)) as client:
            return await client.get(s.api.url + "/data")

    r = asyncio.run(main())
    assert r.status_code == 200
    assert_one_renewal(s)


def test_httpx_concurrent_401s_share_one_renewal(setup):
    s = setup
    auth = hubauth.httpx.HubAuth(s.auth)
    barrier = threading.Barrier(4)
    results = []

    def worker():
        with httpx.Client(auth=auth) as client:
            barrier.wait()
            results.append(client.get(s.api.url + "/data").status_code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 4
    assert s.hub.stats()["device_tokens_issued"] == 1, "one login for all of them"


def test_httpx_uses_the_current_authentication(setup):
    s = setup
    with httpx.Client(auth=hubauth.httpx.HubAuth()) as client:
        assert client.get(s.api.url + "/data").status_code == 200
    assert len(s.api.seen) == 2 and s.hub.stats()["device_tokens_issued"] == 1


def test_requests_renews_once_on_401(setup):
    s = setup
    with requests.Session() as session:
        session.auth = hubauth.requests.HubAuth(s.auth)
        r = session.post(s.api.url + "/data", data=b"payload")
        assert r.status_code == 200 and r.json() == {"ok": True}
        assert [h.status_code for h in r.history] == [401]
        assert r.request.headers["Authorization"] == f"Bearer {s.auth.token.reveal()}"
        assert_one_renewal(s)
        assert [x["body"] for x in s.api.seen] == [b"payload", b"payload"]
        assert session.get(s.api.url + "/data").status_code == 200
    assert len(s.api.seen) == 3 and len(s.reauths) == 1


def test_requests_rewinds_a_file_body(setup):
    s = setup
    body = io.BytesIO(b"skipped:from a file")
    body.seek(len(b"skipped:"))
    r = requests.put(s.api.url + "/data", data=body, auth=hubauth.requests.HubAuth(s.auth))
    assert r.status_code == 200
    assert [x["body"] for x in s.api.seen] == [b"from a file", b"from a file"]
    assert len(s.reauths) == 1


def test_requests_does_not_resend_a_one_shot_stream(setup):
    s = setup

    def chunks():
        yield b"once"

    r = requests.put(s.api.url + "/data", data=chunks(), auth=hubauth.requests.HubAuth(s.auth))
    assert r.status_code == 401 and len(s.api.seen) == 1 and s.reauths == []


def test_requests_gives_up_after_one_retry(setup):
    s = setup
    s.api.decide = lambda token: 401
    r = requests.get(s.api.url + "/data", auth=hubauth.requests.HubAuth(s.auth))
    assert r.status_code == 401
    assert len(s.api.seen) == 2 and len(s.reauths) == 1


def test_no_renewal_when_the_token_is_accepted(setup):
    s = setup
    s.api.decide = lambda token: 200
    assert requests.get(s.api.url, auth=hubauth.requests.HubAuth(s.auth)).status_code == 200
    with httpx.Client(auth=hubauth.httpx.HubAuth(s.auth)) as client:
        assert client.get(s.api.url).status_code == 200
    assert s.api.tokens() == [s.old, s.old] and s.reauths == []


def test_the_auth_objects_hide_the_token(setup):
    s = setup
    for auth in (hubauth.httpx.HubAuth(s.auth), hubauth.requests.HubAuth(s.auth)):
        assert s.old not in repr(auth)
