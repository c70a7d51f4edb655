"""Issue 22, point 10: ``save_token(Secret)`` keeps no plaintext in any
frame's locals, so a traceback that records them (Sentry's default,
``traceback.TracebackException(capture_locals=True)``) cannot show it."""

import traceback

import pytest

import hubauth


def _secret() -> hubauth.Secret:
    # Built here, so the test's own frame holds no plaintext either.
    return hubauth.Secret("PLAINTEXT-" + "s3cr3t" * 4)


def test_save_token_of_a_secret_leaves_no_plaintext_in_a_traceback(tmp_path):
    secret = _secret()
    with pytest.raises(hubauth.HubAuthError) as info:
        # A token that is not an auth.toml: the library refuses it.
        hubauth.save_token(secret, server="https://hub.example",
                           token_path=str(tmp_path / "auth.toml"))
    captured = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    text = "".join(captured.format())
    assert "save_token" in text, "the frames were captured"
    assert "s3cr3t" not in text
    assert not (tmp_path / "auth.toml").exists()
    assert len(secret) == len("PLAINTEXT-") + 24, "the caller's secret is left open"


def test_save_token_of_a_str_still_works(tmp_path):
    with pytest.raises(hubauth.HubAuthError):
        hubauth.save_token("not a toml = [", server="https://hub.example",
                           token_path=str(tmp_path / "auth.toml"))
    with pytest.raises(TypeError):
        hubauth.save_token(b"bytes", server="https://hub.example")
