"""Checks ``_lib`` against include/hubauth.h so the binding cannot drift.

It parses the header's prototypes, its function-pointer typedef, its opaque
structs, its scalar typedefs and its ``#define HUBAUTH_*`` constants, maps each
C type to the ctypes types that may stand for it, and reports every
difference: a function missing on either side, a different argument count, an
incompatible argument or result type, a constant with another value.

    python -m hubauth._header include/hubauth.h     # exit status 1 on drift
"""

from __future__ import annotations

import ctypes
import re
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ["Header", "Prototype", "parse", "check"]


@dataclass
class Prototype:
    name: str
    result: str  # C type, normalised ("const char *", "hubauth_auth *", "void")
    params: List[str]  # C types of the parameters, names dropped


@dataclass
class Header:
    functions: Dict[str, Prototype]
    constants: Dict[str, int]
    opaque: List[str]  # typedef struct X X;
    scalars: Dict[str, str]  # typedef int32_t hubauth_status;
    fn_pointers: Dict[str, Prototype]  # typedef R (*name)(...);


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _norm(ctype: str) -> str:
    """'const  hubauth_auth*' -> 'const hubauth_auth *'."""
    ctype = re.sub(r"\s*\*", " *", ctype.strip())
    ctype = re.sub(r"\*\s+\*", "**", ctype)
    return re.sub(r"\s+", " ", ctype).strip()


def _param_type(param: str) -> str:
    """The type of one parameter declaration ('const char *key' -> 'const char *')."""
    param = param.strip()
    if param == "void":
        return "void"
    m = re.match(r"^(.*?[\s*])([A-Za-z_]\w*)$", param)
    if not m:
        raise ValueError(f"cannot parse the parameter {param!r}")
    return _norm(m.group(1))


def _params(text: str) -> List[str]:
    text = text.strip()
    if text in ("", "void"):
        return []
    return [_param_type(p) for p in text.split(",")]


def parse(text: str) -> Header:
    raw = text
    text = _strip_comments(text)
    constants = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^\s*#\s*define\s+(HUBAUTH_\w+)\s+\(?(-?\d+)\)?\s*$", raw, re.M)
    }
    opaque = re.findall(r"typedef\s+struct\s+(\w+)\s+\1\s*;", text)
    scalars = dict(
        (m.group(2), m.group(1)) for m in re.finditer(r"typedef\s+(\w+)\s+(\w+)\s*;", text)
    )
    fn_pointers = {}
    for m in re.finditer(r"typedef\s+([\w\s*]+?)\(\s*\*\s*(\w+)\s*\)\s*\(([^)]*)\)\s*;", text):
        fn_pointers[m.group(2)] = Prototype(m.group(2), _norm(m.group(1)), _params(m.group(3)))
    # Drop preprocessor lines and typedefs; what is left are the prototypes.
    body = re.sub(r"^\s*#[^\n]*", " ", text, flags=re.M)
    body = re.sub(r"typedef[^;]*;", " ", body)
    body = body.replace('extern "C" {', " ").replace("}", " ")
    functions = {}
    for m in re.finditer(r"([A-Za-z_][\w\s*]*?)\b(hubauth_\w+)\s*\(([^()]*)\)\s*;", body):
        result = _norm(m.group(1))
        functions[m.group(2)] = Prototype(m.group(2), result, _params(m.group(3)))
    return Header(functions, constants, opaque, scalars, fn_pointers)


_SCALARS = {
    "void": (None,),
    "bool": (ctypes.c_bool,),
    "int32_t": (ctypes.c_int32,),
    "int64_t": (ctypes.c_int64,),
    "uint32_t": (ctypes.c_uint32,),
    "uint64_t": (ctypes.c_uint64,),
    "size_t": (ctypes.c_size_t,),
    "int": (ctypes.c_int,),
}


def _allowed(ctype: str, header: Header, lib, *, result: bool) -> Tuple[object, ...]:
    """The ctypes types that correctly stand for C type `ctype`."""
    const = ctype.startswith("const ")
    base = ctype[len("const ") :] if const else ctype
    stars = len(base) - len(base.rstrip("*"))
    name = base.rstrip("* ").strip()
    while name in header.scalars and not stars:
        name = header.scalars[name]
    if stars == 0:
        if name in header.fn_pointers:
            return (getattr(lib, "HOOK_FN"),) if name == "hubauth_hook_fn" else ()
        return _SCALARS.get(name, ())
    if name == "char" and stars == 1:
        if const:
            # borrowed in, or borrowed out: c_char_p copies, and nothing is freed
            return (ctypes.c_char_p, ctypes.c_void_p)
        # owned by the caller: must keep the pointer to free it
        return (lib.OwnedString,)
    if name == "void" and stars == 1:
        return (ctypes.c_void_p,)
    if name in header.opaque:
        handle = lib.HANDLE_TYPES.get(name)
        if handle is None:
            return ()
        if stars == 1:
            return (handle,)
        if stars == 2:
            return (ctypes.POINTER(handle),)
        return ()
    if stars == 1 and name in _SCALARS and _SCALARS[name][0] is not None:
        return tuple(ctypes.POINTER(t) for t in _SCALARS[name])
    return ()


def _name(t: object) -> str:
    return "None (void)" if t is None else getattr(t, "__name__", repr(t))


def check(header_text: str, lib=None) -> List[str]:
    """Every difference between the header and ``_lib`` (empty list: none)."""
    if lib is None:
        from . import _lib as lib  # noqa: N813
    header = parse(header_text)
    problems: List[str] = []
    if not header.functions:
        return ["no prototypes found in the header (parser out of date?)"]

    for name, proto in header.functions.items():
        if name not in lib.SIGNATURES:
            problems.append(f"{name}: in the header, not bound in _lib.SIGNATURES")
            continue
        restype, argtypes = lib.SIGNATURES[name]
        fn = getattr(lib.lib, name)
        if fn.restype is not restype or list(fn.argtypes or []) != list(argtypes):
            problems.append(f"{name}: the loaded function's types differ from SIGNATURES")
        allowed = _allowed(proto.result, header, lib, result=True)
        if restype not in allowed:
            problems.append(
                f"{name}: result {proto.result!r} bound as {_name(restype)}, "
                f"expected one of {[_name(t) for t in allowed]}"
            )
        if len(argtypes) != len(proto.params):
            problems.append(
                f"{name}: {len(proto.params)} parameters in the header, {len(argtypes)} bound"
            )
            continue
        for i, (ctype, bound) in enumerate(zip(proto.params, argtypes)):
            allowed = _allowed(ctype, header, lib, result=False)
            if bound not in allowed:
                problems.append(
                    f"{name}: parameter {i + 1} {ctype!r} bound as {_name(bound)}, "
                    f"expected one of {[_name(t) for t in allowed]}"
                )
    for name in lib.SIGNATURES:
        if name not in header.functions:
            problems.append(f"{name}: bound in _lib but not in the header")

    for name, proto in header.fn_pointers.items():
        if name != "hubauth_hook_fn":
            problems.append(f"{name}: a function-pointer type the binding does not know")
            continue
        hook = lib.HOOK_FN
        if hook._restype_ not in _allowed(proto.result, header, lib, result=True):
            problems.append(f"{name}: result {proto.result!r} bound as {_name(hook._restype_)}")
        if len(hook._argtypes_) != len(proto.params):
            problems.append(f"{name}: {len(proto.params)} parameters, {len(hook._argtypes_)} bound")
        else:
            for i, (ctype, bound) in enumerate(zip(proto.params, hook._argtypes_)):
                if bound not in _allowed(ctype, header, lib, result=False):
                    problems.append(f"{name}: parameter {i + 1} {ctype!r} bound as {_name(bound)}")

    for name in header.opaque:
        if name not in lib.HANDLE_TYPES:
            problems.append(f"struct {name}: opaque type with no handle type in _lib")
    status = header.scalars.get("hubauth_status")
    if status is None or _SCALARS.get(status, (None,))[0] is not lib.hubauth_status:
        problems.append(f"hubauth_status is {status!r} in the header")

    for name, value in header.constants.items():
        bound = getattr(lib, name, None)
        if bound != value:
            problems.append(f"{name} = {value} in the header, {bound!r} in _lib")
    for name in dir(lib):
        if name.startswith("HUBAUTH_") and name not in header.constants:
            problems.append(f"{name} is in _lib but not in the header")
    return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        print("usage: python -m hubauth._header path/to/hubauth.h", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        problems = check(f.read())
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print("hubauth binding matches", argv[0])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
