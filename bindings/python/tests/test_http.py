"""hubauth.httpx.HubAuth and hubauth.requests.HubAuth: the bearer header only
to the hub's origin (or origins named with extra_origins), and on a 401 from
such an origin exactly one bare reauthenticate() and one retry."""

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
    # The hub revoked the login too, so the core's check confirms the 401
    # (a bare reauthenticate asks the server before it logs in again).
    auto_server.revoke()
    api = api_server(lambda token: 401 if token in ("", old) else 200)

    reauths = []
    original = hubauth.Authentication.reauthenticate

    def counting(self, **kwargs):
        reauths.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(hubauth.Authentication, "reauthenticate", counting)
    original_async = hubauth.Authentication.reauthenticate_async

    async def counting_async(self, **kwargs):
        reauths.append(kwargs)
        return await original_async(self, **kwargs)

    monkeypatch.setattr(hubauth.Authentication, "reauthenticate_async", counting_async)

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
    assert s.reauths == [{}]  # a bare reauthenticate: the core asks the server
    assert len(s.hook_calls) == 1  # the forced login went through the hook
    assert s.hub.stats()["device_tokens_issued"] == 1


def test_httpx_renews_once_on_401(setup):
    s = setup
    with httpx.Client(auth=hubauth.httpx.HubAuth(s.auth, extra_origins=[s.api.url])) as client:
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
    with httpx.Client(auth=hubauth.httpx.HubAuth(s.auth, extra_origins=[s.api.url])) as client:
        r = client.get(s.api.url + "/data")
    assert r.status_code == 401
    assert len(s.api.seen) == 2 and len(s.reauths) == 1


def test_httpx_async(setup, monkeypatch):
    s = setup
    import anyio.to_thread

    def no_thread(*args, **kwargs):
        raise AssertionError("the async adapter hopped to a thread")

    # On asyncio the header and the renewal are the library's jobs.
    monkeypatch.setattr(anyio.to_thread, "run_sync", no_thread)

    async def main():
        monkeypatch.setattr(asyncio.get_running_loop(), "run_in_executor", no_thread)
        async with httpx.AsyncClient(auth=hubauth.httpx.HubAuth(s.auth, extra_origins=[s.api.url])) as client:
            return await client.get(s.api.url + "/data")

    r = asyncio.run(main())
    assert r.status_code == 200
    assert_one_renewal(s)


def test_httpx_concurrent_401s_share_one_renewal(setup):
    s = setup
    auth = hubauth.httpx.HubAuth(s.auth, extra_origins=[s.api.url])
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
    with httpx.Client(auth=hubauth.httpx.HubAuth(extra_origins=[s.api.url])) as client:
        assert client.get(s.api.url + "/data").status_code == 200
    assert len(s.api.seen) == 2 and s.hub.stats()["device_tokens_issued"] == 1


def test_requests_renews_once_on_401(setup):
    s = setup
    with requests.Session() as session:
        session.auth = hubauth.requests.HubAuth(s.auth, extra_origins=[s.api.url])
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
    r = requests.put(s.api.url + "/data", data=body, auth=hubauth.requests.HubAuth(s.auth, extra_origins=[s.api.url]))
    assert r.status_code == 200
    assert [x["body"] for x in s.api.seen] == [b"from a file", b"from a file"]
    assert len(s.reauths) == 1


def test_requests_does_not_resend_a_one_shot_stream(setup):
    s = setup

    def chunks():
        yield b"once"

    r = requests.put(s.api.url + "/data", data=chunks(), auth=hubauth.requests.HubAuth(s.auth, extra_origins=[s.api.url]))
    assert r.status_code == 401 and len(s.api.seen) == 1 and s.reauths == []


def test_requests_gives_up_after_one_retry(setup):
    s = setup
    s.api.decide = lambda token: 401
    r = requests.get(s.api.url + "/data", auth=hubauth.requests.HubAuth(s.auth, extra_origins=[s.api.url]))
    assert r.status_code == 401
    assert len(s.api.seen) == 2 and len(s.reauths) == 1


def test_no_renewal_when_the_token_is_accepted(setup):
    s = setup
    s.api.decide = lambda token: 200
    assert requests.get(s.api.url, auth=hubauth.requests.HubAuth(s.auth, extra_origins=[s.api.url])).status_code == 200
    with httpx.Client(auth=hubauth.httpx.HubAuth(s.auth, extra_origins=[s.api.url])) as client:
        assert client.get(s.api.url).status_code == 200
    assert s.api.tokens() == [s.old, s.old] and s.reauths == []


def test_the_auth_objects_hide_the_token(setup):
    s = setup
    for auth in (hubauth.httpx.HubAuth(s.auth, extra_origins=[s.api.url]), hubauth.requests.HubAuth(s.auth, extra_origins=[s.api.url])):
        assert s.old not in repr(auth)


# ---- the token goes only to the hub's origin (issue 13) ----


def test_origin_is_scheme_host_and_port():
    from hubauth._renew import origin

    assert origin("https://Hub.Example/x?y") == ("https", "hub.example", 443)
    assert origin("https://hub.example:443") == origin("https://hub.example/")
    assert origin("http://hub.example") == ("http", "hub.example", 80)
    assert origin("https://hub.example:8443") != origin("https://hub.example")
    assert origin("https://hub.example.evil.test") != origin("https://hub.example")
    assert origin("https://user@hub.example") == origin("https://hub.example")
    assert origin("/relative") is None and origin("https://hub:99999") is None
    with pytest.raises(ValueError):
        hubauth.httpx.HubAuth(extra_origins=["not a url"])


def test_no_token_and_no_renewal_for_another_host(setup):
    s = setup
    # Another host answering 401 (no extra_origins): it never sees the token,
    # and its 401 does not make the adapters log in again.
    with httpx.Client(auth=hubauth.httpx.HubAuth(s.auth)) as client:
        assert client.get(s.api.url + "/data").status_code == 401
    r = requests.get(s.api.url + "/data", auth=hubauth.requests.HubAuth(s.auth))
    assert r.status_code == 401 and r.history == []
    assert s.api.tokens() == ["", ""]
    assert s.reauths == [] and s.hook_calls == []


def test_the_hubs_origin_gets_the_token_and_its_401_renews(setup):
    s = setup
    # The hub's own API answers 401 to the revoked token: one bare
    # reauthenticate (the core asks the server, then logs in again), one retry.
    with httpx.Client(auth=hubauth.httpx.HubAuth(s.auth)) as client:
        r = client.get(s.hub.url + "/api/v1")
        assert r.status_code == 200, r.text
        assert [h.status_code for h in r.history] == [401]
    assert s.reauths == [{}] and len(s.hook_calls) == 1
    new = s.auth.token.reveal()
    assert new != s.old
    r = requests.get(s.hub.url + "/api/v1", auth=hubauth.requests.HubAuth(s.auth))
    assert r.status_code == 200 and r.history == []
    assert r.request.headers["Authorization"] == f"Bearer {new}"
    assert s.reauths == [{}]


def test_a_401_with_a_good_token_does_not_log_in_again(auto_server, token_path, api_server,
                                                        monkeypatch):
    # The hub still accepts the token (a 401 for another reason): the core's
    # check says so, nothing is renewed, and the 401 comes back after one retry.
    token_path.parent.mkdir(parents=True)
    token_path.write_text(auto_server.issue())
    hooks = []
    auth = hubauth.authenticate(auto_server.url, token_path=token_path, interactive=False,
                                hook=hooks.append)
    old = auth.token.reveal()
    api = api_server(lambda token: 401)
    r = requests.get(api.url, auth=hubauth.requests.HubAuth(auth, extra_origins=[api.url]))
    assert r.status_code == 401
    assert api.tokens() == [old, old]
    assert hooks == [] and auto_server.stats()["device_tokens_issued"] == 0
    assert auth.token.reveal() == old
