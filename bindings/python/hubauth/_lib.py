"""Low-level ctypes binding of include/hubauth.h.

Every function of the header is declared in ``SIGNATURES`` with its exact
``restype`` and ``argtypes``; ``_header.check`` (run by the test suite) parses
the header and fails when this file and the header disagree. Nothing here
knows about auth: it only loads the library and describes its ABI.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ._errors import LibraryNotFoundError

# --- status codes (must equal the header's #defines; checked by _header) ------

HUBAUTH_OK = 0
HUBAUTH_ERR_NULL_ARGUMENT = 1
HUBAUTH_ERR_INVALID_ARGUMENT = 2
HUBAUTH_ERR_NO_CREDENTIALS = 3
HUBAUTH_ERR_AUTHENTICATION = 4
HUBAUTH_ERR_NETWORK = 5
HUBAUTH_ERR_SERVER = 6
HUBAUTH_ERR_IO = 7
HUBAUTH_ERR_FORMAT = 8
HUBAUTH_ERR_CANCELLED = 9
HUBAUTH_ERR_TIMEOUT = 10
HUBAUTH_ERR_INSECURE = 11
HUBAUTH_ERR_PANIC = 98
HUBAUTH_ERR_INTERNAL = 99


# --- types ---------------------------------------------------------------------

hubauth_status = ctypes.c_int32


class _Handle(ctypes.c_void_p):
    """A pointer to one kind of opaque struct. ``from_param`` refuses every
    other kind, so passing an options handle where an auth is expected is a
    TypeError in Python, not undefined behaviour in C."""

    @classmethod
    def from_param(cls, obj):  # type: ignore[override]
        if obj is None or isinstance(obj, cls):
            return obj
        raise TypeError(f"expected {cls.__name__} or None, got {type(obj).__name__}")


class OptionsPtr(_Handle):
    """``hubauth_options *``"""


class AuthPtr(_Handle):
    """``hubauth_auth *``"""


class SecretPtr(_Handle):
    """``hubauth_secret *``"""


class ErrorPtr(_Handle):
    """``hubauth_error *``"""


class OwnedString(_Handle):
    """``char *`` returned to the caller, to be freed with hubauth_string_free
    (a plain c_char_p restype would copy it and lose the pointer: a leak)."""


#: ``typedef int32_t (*hubauth_hook_fn)(void *userdata, const char *url);``
HOOK_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_char_p)

#: The opaque structs of the header and their handle types.
HANDLE_TYPES = {
    "hubauth_options": OptionsPtr,
    "hubauth_auth": AuthPtr,
    "hubauth_secret": SecretPtr,
    "hubauth_error": ErrorPtr,
}

_P = ctypes.POINTER
_char_p = ctypes.c_char_p

#: name -> (restype, argtypes), in header order.
SIGNATURES: Dict[str, Tuple[object, Sequence[object]]] = {
    "hubauth_authenticate": (hubauth_status, [OptionsPtr, _P(AuthPtr), _P(ErrorPtr)]),
    "hubauth_reauthenticate": (hubauth_status, [AuthPtr, OptionsPtr, _P(ErrorPtr)]),
    "hubauth_check": (hubauth_status, [AuthPtr, _P(ctypes.c_bool), _P(ErrorPtr)]),
    "hubauth_token": (hubauth_status, [AuthPtr, _P(SecretPtr), _P(ErrorPtr)]),
    "hubauth_save_token": (hubauth_status, [OptionsPtr, _char_p, _P(ErrorPtr)]),
    "hubauth_logout": (hubauth_status, [OptionsPtr, _P(ErrorPtr)]),
    "hubauth_current": (AuthPtr, []),
    "hubauth_auth_server": (OwnedString, [AuthPtr]),
    "hubauth_auth_username": (OwnedString, [AuthPtr]),
    "hubauth_auth_expires_at": (ctypes.c_int64, [AuthPtr]),
    "hubauth_auth_free": (None, [AuthPtr]),
    "hubauth_version": (_char_p, []),
    "hubauth_error_code": (hubauth_status, [ErrorPtr]),
    "hubauth_error_message": (_char_p, [ErrorPtr]),
    "hubauth_error_free": (None, [ErrorPtr]),
    "hubauth_string_free": (None, [OwnedString]),
    "hubauth_options_new": (OptionsPtr, []),
    "hubauth_options_set": (hubauth_status, [OptionsPtr, _char_p, _char_p, _P(ErrorPtr)]),
    "hubauth_options_set_hook": (hubauth_status, [OptionsPtr, HOOK_FN, ctypes.c_void_p]),
    "hubauth_options_free": (None, [OptionsPtr]),
    "hubauth_secret_new": (SecretPtr, [_char_p]),
    "hubauth_secret_expose": (_char_p, [SecretPtr]),
    "hubauth_secret_len": (ctypes.c_size_t, [SecretPtr]),
    "hubauth_secret_free": (None, [SecretPtr]),
}


# --- finding the library ---------------------------------------------------------

if sys.platform == "darwin":
    _FILE_NAMES = ("libhubauth.dylib",)
elif sys.platform == "win32":
    _FILE_NAMES = ("hubauth.dll", "libhubauth.dll")
else:
    _FILE_NAMES = ("libhubauth.so",)

PACKAGE_DIR = Path(__file__).resolve().parent


def candidate_paths(
    environ: Mapping[str, str] = os.environ, package_dir: Path = PACKAGE_DIR
) -> List[str]:
    """Where the library is looked for, in order (``HUBAUTH_LIB`` alone when set)."""
    explicit = environ.get("HUBAUTH_LIB")
    if explicit:
        return [explicit]
    paths = [str(package_dir / name) for name in _FILE_NAMES]
    # bindings/python/hubauth -> the repository root, for in-repo and
    # `pip install -e` use after `cargo build [--release]`.
    repo = package_dir.parent.parent.parent
    for profile in ("release", "debug"):
        paths += [str(repo / "target" / profile / name) for name in _FILE_NAMES]
    return paths


def load_library(
    environ: Mapping[str, str] = os.environ, package_dir: Path = PACKAGE_DIR
) -> Tuple[ctypes.CDLL, str]:
    """Loads libhubauth: ``HUBAUTH_LIB`` if set; else one shipped in the package;
    else the repository's target/release then target/debug build; else the
    system's (``ctypes.util.find_library``). Raises LibraryNotFoundError
    listing what was tried."""
    tried: List[str] = []
    explicit = environ.get("HUBAUTH_LIB")
    for path in candidate_paths(environ, package_dir):
        if not explicit and not os.path.exists(path):
            tried.append(f"{path} (absent)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({e})")
    if not explicit:
        found = ctypes.util.find_library("hubauth")
        if found:
            try:
                return ctypes.CDLL(found), found
            except OSError as e:
                tried.append(f"{found} ({e})")
        else:
            tried.append('ctypes.util.find_library("hubauth") (nothing)')
    raise LibraryNotFoundError(
        "cannot load libhubauth; tried:\n  "
        + "\n  ".join(tried)
        + "\nBuild it with `cargo build` in the hubauth repository, or set "
        "HUBAUTH_LIB to the library's path."
    )


def bind(cdll: ctypes.CDLL, path: str) -> None:
    """Sets restype and argtypes of every function; a missing one is an error."""
    missing = []
    for name, (restype, argtypes) in SIGNATURES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = list(argtypes)
    if missing:
        raise LibraryNotFoundError(
            f"{path} is not a compatible libhubauth (it lacks {', '.join(missing)}); "
            "rebuild it or set HUBAUTH_LIB"
        )


lib, path = load_library()
bind(lib, path)


def version() -> str:
    """The library's own version, e.g. "0.1.0"."""
    raw: Optional[bytes] = lib.hubauth_version()
    return raw.decode() if raw else ""
