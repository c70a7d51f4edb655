"""Low-level ctypes binding of include/hubauth.h.

Every function of the header is declared with its exact ``restype`` and
``argtypes``, built from ``_signatures`` (generated from the header by
bindings/julia/gen/generate.py, the project's one header parser; CI fails
when it drifts). The header itself is never read at run time. Nothing here
knows about auth: it only loads the library and describes its ABI.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from . import _signatures
from ._errors import LibraryNotFoundError

# --- status codes (the header's #defines, from _signatures) ---------------------

# Every HUBAUTH_* constant of the header.
globals().update({k: v for k, v in vars(_signatures).items() if k.startswith("HUBAUTH_")})


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


#: The opaque structs of the header and their handle types (a struct the
#: header gained later gets a handle class made here).
HANDLE_TYPES: Dict[str, type] = {}
for _c_name, _py_name in _signatures.HANDLES.items():
    if _py_name not in globals():
        globals()[_py_name] = type(_py_name, (_Handle,), {"__doc__": f"``{_c_name} *``"})
    HANDLE_TYPES[_c_name] = globals()[_py_name]

#: The header's structs with fields, by class name (filled below).
STRUCT_TYPES: Dict[str, type] = {}

_TYPE_NAME = re.compile(r"^(?:POINTER\((.*)\)|(\w+))$")


def ctype(name: Optional[str]) -> object:
    """The ctypes type a ``_signatures`` name stands for (None: void)."""
    if name is None:
        return None
    m = _TYPE_NAME.match(name)
    if m is None:
        raise ValueError(f"_signatures: unknown type name {name!r}")
    if m.group(1) is not None:
        return ctypes.POINTER(ctype(m.group(1)))  # type: ignore[arg-type]
    simple = m.group(2)
    if simple.startswith("c_") and hasattr(ctypes, simple):
        return getattr(ctypes, simple)
    if simple == "OwnedString" or simple in _signatures.HANDLES.values() or simple in _signatures.FN_POINTERS:
        return globals()[simple]
    if simple in STRUCT_TYPES:
        return STRUCT_TYPES[simple]
    raise ValueError(f"_signatures: unknown type name {name!r}")


for _py_name, (_c_name, _ret, _args) in _signatures.FN_POINTERS.items():
    globals()[_py_name] = ctypes.CFUNCTYPE(ctype(_ret), *[ctype(a) for a in _args])

#: ``typedef int32_t (*hubauth_hook_fn)(void *userdata, const char *url);``
HOOK_FN = globals()["HOOK_FN"]

#: ``typedef void (*hubauth_notify_fn)(void *arg);``
NOTIFY_FN = globals()["NOTIFY_FN"]

#: The header's structs with fields, by class name (``JobEvent`` is
#: ``hubauth_job_event``): ctypes.Structure classes with _signatures'
#: ``_fields_`` in C order.
STRUCT_TYPES: Dict[str, type] = {}
for _py_name, (_c_name, _fields) in _signatures.STRUCTS.items():
    STRUCT_TYPES[_py_name] = globals()[_py_name] = type(_py_name, (ctypes.Structure,), {
        "_fields_": [(_field, ctype(_type)) for _field, _type in _fields],
        "__doc__": f"``{_c_name}``",
        "__module__": __name__,
    })

#: ``hubauth_job_event``: one piece of news from hubauth_job_poll.
JobEvent = STRUCT_TYPES["JobEvent"]


def _argtypes(name: str, args: Sequence[str]) -> List[object]:
    """The argtypes of `name`; a pointer to a struct of STRUCTS, which
    _signatures writes as c_void_p, is typed POINTER(<struct>) here
    (STRUCT_PARAMS), so passing anything else is a TypeError."""
    types = [ctype(a) for a in args]
    for index, struct in _signatures.STRUCT_PARAMS.get(name, {}).items():
        types[index] = ctypes.POINTER(STRUCT_TYPES[struct])
    return types


#: name -> (restype, argtypes), in header order.
SIGNATURES: Dict[str, Tuple[object, Sequence[object]]] = {
    name: (ctype(ret), _argtypes(name, args))
    for name, (ret, args) in _signatures.SIGNATURES.items()
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

#: ``hubauth_notify_fd`` as a notify argument: the C function itself (its
#: address, not a ctypes callback), so the library's thread runs no Python
#: when a job has news: it writes 8 bytes to the descriptor given as arg.
NOTIFY_FD = NOTIFY_FN(ctypes.cast(lib.hubauth_notify_fd, ctypes.c_void_p).value)


#: ``hubauth_secret_expose`` returning the address, not a ``bytes`` copy.
_EXPOSE_ADDRESS = ctypes.CFUNCTYPE(ctypes.c_void_p, SecretPtr)(("hubauth_secret_expose", lib))


def secret_bytes(ptr: "SecretPtr") -> ctypes.c_char_p:
    """The bytes of a live secret as a ``const char *`` argument, without a
    Python copy of them (its repr shows only the address); valid while the
    secret is."""
    return ctypes.cast(_EXPOSE_ADDRESS(ptr), ctypes.c_char_p)


def version() -> str:
    """The library's own version, e.g. "0.1.0"."""
    raw: Optional[bytes] = lib.hubauth_version()
    return raw.decode() if raw else ""
