"""Library messages name options as this binding's keywords: the library
writes `key` / `key=value`, the exception says `force=True`, `timeout`."""

from __future__ import annotations

import pytest

import hubauth
from hubauth import _keywords


def test_backquoted_options_become_python_keywords():
    render = _keywords.render
    assert render("fix or delete the file, or authenticate with `force=true`") == (
        "fix or delete the file, or authenticate with `force=True`"
    )
    assert render("(`interactive=false`) and `maxcount=1`") == "(`interactive=False`) and `maxcount=1`"
    assert render("raise `timeout_ms` to wait longer") == "raise `timeout` to wait longer"
    assert render("`timeout_ms=2500`") == "`timeout=2.5`"
    assert render("with `provider=cave` and `server=https://h.example`") == (
        "with `provider='cave'` and `server='https://h.example'`"
    )
    # Commands and plain words are not options.
    text = "run `hubauth login --force` or set HOME"
    assert render(text) == text


def test_the_renamed_keywords_are_the_ones_the_binding_takes(server, token_path):
    # `timeout` is a keyword of authenticate; `timeout_ms` would go to the
    # library by name and mean milliseconds.
    import inspect

    for keyword in _keywords.RENAMED:
        assert keyword in inspect.signature(hubauth.authenticate).parameters


def test_a_format_error_says_force_true_in_python(server, token_path):
    token_path.parent.mkdir(parents=True)
    token_path.write_text("this is = = not toml\n")
    with pytest.raises(hubauth.FormatError) as info:
        hubauth.authenticate(server.url, token_path=token_path, interactive=False)
    assert info.value.message.endswith(
        "fix or delete the file, or authenticate with `force=True`"
    ), info.value.message


def test_a_login_timeout_names_the_timeout_keyword(server, token_path):
    with pytest.raises(hubauth.LoginTimeoutError) as info:
        hubauth.authenticate(server.url, token_path=token_path, hook=lambda url: None, timeout=0.5)
    assert info.value.message.endswith(
        "gave up waiting for the login to be approved (raise `timeout` to wait longer)"
    ), info.value.message
    assert "timeout_ms" not in info.value.message


def test_no_credentials_names_interactive_true(server, token_path):
    with pytest.raises(hubauth.NoCredentialsError) as info:
        hubauth.authenticate(server.url, token_path=token_path, interactive=False)
    assert "`interactive=True`" in info.value.message, info.value.message
