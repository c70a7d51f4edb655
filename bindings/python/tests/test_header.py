"""The binding cannot drift from include/hubauth.h."""

from __future__ import annotations

import ctypes
import re
import subprocess
import sys

import pytest

from conftest import HEADER, PYTHON_DIR
from hubauth import _header, _lib


@pytest.fixture(scope="module")
def header_text() -> str:
    return HEADER.read_text()


def test_binding_matches_the_header(header_text):
    problems = _header.check(header_text)
    assert problems == [], "\n".join(problems)


def test_every_function_and_constant_is_seen(header_text):
    parsed = _header.parse(header_text)
    # Counted independently of the parser: every `hubauth_x(` that ends a prototype.
    names = set(re.findall(r"\b(hubauth_\w+)\s*\([^;{]*\)\s*;", re.sub(r"/\*.*?\*/", "", header_text, flags=re.S)))
    assert set(parsed.functions) == names == set(_lib.SIGNATURES)
    defines = set(re.findall(r"#define (HUBAUTH_\w+) \d+", header_text))
    assert set(parsed.constants) == defines and "HUBAUTH_ERR_INTERNAL" in defines
    for name, value in parsed.constants.items():
        assert getattr(_lib, name) == value
    for name in _lib.SIGNATURES:
        fn = getattr(_lib.lib, name)
        assert fn.argtypes is not None and fn.restype is _lib.SIGNATURES[name][0]


@pytest.mark.parametrize(
    "mutation",
    [
        # a new function the binding lacks
        lambda h: h.replace("void hubauth_secret_free(", "void hubauth_secret_wipe(hubauth_secret *s);\nvoid hubauth_secret_free("),
        # a parameter added
        lambda h: h.replace("hubauth_status hubauth_logout(const hubauth_options *o, ", "hubauth_status hubauth_logout(const hubauth_options *o, int32_t flags, "),
        # a type changed
        lambda h: h.replace("int64_t hubauth_auth_expires_at(", "int32_t hubauth_auth_expires_at("),
        lambda h: h.replace("char *hubauth_auth_server(", "const char *hubauth_auth_server("),
        lambda h: h.replace("hubauth_status hubauth_check(const hubauth_auth *a, bool *valid", "hubauth_status hubauth_check(const hubauth_auth *a, hubauth_secret *valid"),
        # a constant renumbered or added
        lambda h: h.replace("#define HUBAUTH_ERR_INSECURE 11", "#define HUBAUTH_ERR_INSECURE 12"),
        lambda h: h.replace("#define HUBAUTH_ERR_PANIC 98", "#define HUBAUTH_ERR_PANIC 98\n#define HUBAUTH_ERR_BUSY 13"),
        # the hook's type changed
        lambda h: h.replace("typedef int32_t (*hubauth_hook_fn)(void *userdata, const char *url);", "typedef bool (*hubauth_hook_fn)(void *userdata, const char *url);"),
    ],
)
def test_a_drift_is_caught(header_text, mutation):
    changed = mutation(header_text)
    assert changed != header_text, "the mutation no longer applies; update the test"
    assert _header.check(changed) != []


def test_handles_are_distinct_types():
    opts = _lib.lib.hubauth_options_new()
    try:
        with pytest.raises(ctypes.ArgumentError):
            _lib.lib.hubauth_auth_free(opts)  # an options handle is not an auth
        with pytest.raises(ctypes.ArgumentError):
            _lib.lib.hubauth_auth_free(ctypes.c_void_p(opts.value))
        assert _lib.lib.hubauth_auth_free(None) is None  # NULL is allowed
    finally:
        _lib.lib.hubauth_options_free(opts)


def test_command_line_check():
    r = subprocess.run(
        [sys.executable, "-m", "hubauth._header", str(HEADER)],
        cwd=PYTHON_DIR, capture_output=True, text=True, timeout=30,
    )
    assert r.returncode == 0, r.stderr
