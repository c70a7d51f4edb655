"""Secret: the value is reachable only through reveal()."""

from __future__ import annotations

import logging
import pickle

import pytest

import hubauth
from conftest import toml_string

VALUE = "sEcReT-VaLuE-1234"


def test_secret_hides_its_value(caplog):
    s = hubauth.Secret(VALUE)
    shown = [repr(s), str(s), f"{s}", "%s" % s, "{}".format(s), repr([s]), repr({"t": s})]
    for text in shown:
        assert VALUE not in text
    assert repr(s) == str(s) == "Secret('*****')"
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("token %s", s)
    assert VALUE not in caplog.text
    assert len(s) == len(VALUE) and bool(s)
    assert s.reveal() == VALUE == s.get_secret_value()
    assert s == hubauth.Secret(VALUE) and s != hubauth.Secret("other")
    with pytest.raises(TypeError):
        hash(s)
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_secret_close_is_idempotent():
    s = hubauth.Secret(VALUE)
    with s:
        pass
    s.close()
    assert s.closed and repr(s) == "Secret(<closed>)"
    with pytest.raises(ValueError, match="closed"):
        s.reveal()
    with pytest.raises(ValueError):
        len(s)


def test_secret_refuses_bad_values():
    with pytest.raises(TypeError):
        hubauth.Secret(b"bytes")
    with pytest.raises(ValueError):
        hubauth.Secret("a\0b")
    assert hubauth.Secret("").reveal() == "" and not hubauth.Secret("")


def test_token_is_a_fresh_secret_each_time(server, token_path):
    token_path.parent.mkdir(parents=True)
    toml = server.issue()
    token_path.write_text(toml)
    auth = hubauth.authenticate(server.url, token_path=token_path, interactive=False)
    a, b = auth.token, auth.token
    assert a is not b and a == b
    a.close()
    assert b.reveal() == toml_string(toml, "id_token"), "closing one leaves the other"
    assert toml_string(toml, "id_token") not in repr(auth)


def test_errors_have_code_and_message():
    e = hubauth.NoCredentialsError("nothing stored", 3)
    assert e.code == 3 and e.message == "nothing stored" and str(e) == "nothing stored"
    assert pickle.loads(pickle.dumps(e)).code == 3
    from hubauth._errors import error_for

    assert type(error_for(10, "slow")) is hubauth.LoginTimeoutError
    assert type(error_for(98, "bug")) is hubauth.PanicError
    assert isinstance(error_for(98, "bug"), hubauth.InternalError)
    unknown = error_for(12345, "newer library")
    assert type(unknown) is hubauth.HubAuthError and unknown.code == 12345
    for code in range(1, 12):
        assert error_for(code, "x").code == code
    # One class per status code of the header, BUFFER_TOO_SMALL included.
    from hubauth import _signatures

    for name, code in vars(_signatures).items():
        if name.startswith("HUBAUTH_ERR_"):
            assert type(error_for(code, "x")) is not hubauth.HubAuthError, name
    assert type(error_for(12, "x")) is hubauth.BufferTooSmallError
