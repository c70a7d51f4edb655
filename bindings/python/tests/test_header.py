"""The binding cannot drift from include/hubauth.h: its signature table
(hubauth/_signatures.py) is generated from the header by
bindings/julia/gen/generate.py, the one parser of the header, and checked
against it here and by `generate.py --check` in tests/run-all.sh."""

from __future__ import annotations

import ctypes
import importlib.util
import re
import subprocess
import sys

import pytest

from conftest import HEADER, PYTHON_DIR, REPO
from hubauth import _lib, _signatures

GENERATOR = REPO / "bindings" / "julia" / "gen" / "generate.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("hubauth_generate_for_tests", GENERATOR)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def header_text() -> str:
    return HEADER.read_text()


def test_signatures_are_what_the_generator_makes_of_the_header(gen, header_text):
    expected = gen.render_python(gen.parse_header(header_text))
    assert (PYTHON_DIR / "hubauth" / "_signatures.py").read_text() == expected, (
        "stale: run python3 bindings/julia/gen/generate.py"
    )


def test_generator_check_passes():
    r = subprocess.run([sys.executable, str(GENERATOR), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "_signatures.py is up to date" in r.stdout


def test_every_function_and_constant_is_bound(header_text):
    # Counted independently of the generator: every `hubauth_x(` that ends a prototype.
    names = set(re.findall(r"\b(hubauth_\w+)\s*\([^;{]*\)\s*;", re.sub(r"/\*.*?\*/", "", header_text, flags=re.S)))
    assert names == set(_signatures.SIGNATURES) == set(_lib.SIGNATURES)
    defines = dict(re.findall(r"#define (HUBAUTH_\w+) (\d+)", header_text))
    assert "HUBAUTH_ERR_INTERNAL" in defines
    for name, value in defines.items():
        assert getattr(_lib, name) == int(value) == getattr(_signatures, name)
    for name, (restype, argtypes) in _lib.SIGNATURES.items():
        fn = getattr(_lib.lib, name)
        assert fn.restype is restype and list(fn.argtypes) == list(argtypes)


def test_types_are_the_reviewed_ones():
    """The type map, spelled out for a few functions of each kind."""
    P = ctypes.POINTER
    S = _lib.SIGNATURES
    assert S["hubauth_authenticate"] == (ctypes.c_int32, [_lib.OptionsPtr, P(_lib.AuthPtr), P(_lib.ErrorPtr)])
    assert S["hubauth_check"][1][1] is P(ctypes.c_bool)
    assert S["hubauth_auth_server"][0] is _lib.OwnedString  # owned: freed by hubauth_string_free
    assert S["hubauth_string_free"] == (None, [_lib.OwnedString])
    assert S["hubauth_version"] == (ctypes.c_char_p, [])  # borrowed: copied
    assert S["hubauth_auth_expires_at"][0] is ctypes.c_int64
    assert S["hubauth_secret_len"][0] is ctypes.c_size_t
    assert S["hubauth_options_set_hook"][1] == [_lib.OptionsPtr, _lib.HOOK_FN, ctypes.c_void_p]
    assert _lib.HOOK_FN._restype_ is ctypes.c_int32
    assert list(_lib.HOOK_FN._argtypes_) == [ctypes.c_void_p, ctypes.c_char_p]


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
def test_a_drift_is_caught(gen, header_text, mutation):
    changed = mutation(header_text)
    assert changed != header_text, "the mutation no longer applies; update the test"
    current = (PYTHON_DIR / "hubauth" / "_signatures.py").read_text()
    assert gen.render_python(gen.parse_header(changed)) != current


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


def test_unknown_type_names_are_refused():
    with pytest.raises(ValueError):
        _lib.ctype("c_no_such_type")
    with pytest.raises(ValueError):
        _lib.ctype("POINTER(Nope)")
