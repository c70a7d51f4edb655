#!/usr/bin/env python3
"""Generates the bindings' low-level layer from include/hubauth.h: the Julia
module bindings/julia/HubAuth/src/LibHubAuth.jl and the Python binding's
signature table bindings/python/hubauth/_signatures.py. It is the project's
one parser of the header (the Python binding reads the table, never the
header, so an installed wheel needs no header).

    python3 bindings/julia/gen/generate.py            # rewrite both files
    python3 bindings/julia/gen/generate.py --check    # exit 1 if either is stale
    python3 bindings/julia/gen/generate.py --stdout   # print LibHubAuth.jl, write nothing

The header is cbindgen output and regular: doxygen `/** */` comments, opaque
`typedef struct x x;`, struct typedefs with fields (`typedef struct { int32_t
kind; ... } x;`, one field per line, each maybe after a doc comment),
scalar and function-pointer typedefs, `#define
HUBAUTH_* <int>`, and one prototype per line. A parameter may itself be a
function pointer written inline (`void (*free_userdata)(void *userdata)`): it
becomes an unnamed callback type, `<param>_fn` (Typedef.inline), which the
outputs treat like a function-pointer typedef but never declare by that name. The parser is strict: a line it
does not understand is an error, never skipped, so a new kind of declaration
cannot slip past the Julia binding unnoticed.

This module is also imported by bindings/julia/check_ccalls.py, which uses the
same parser and type map to check every hand-written `ccall`. Python stdlib only.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

JULIA_DIR = Path(__file__).resolve().parent.parent          # bindings/julia
REPO_ROOT = JULIA_DIR.parent.parent
HEADER_REL = Path("include/hubauth.h")
OUTPUT_REL = Path("bindings/julia/HubAuth/src/LibHubAuth.jl")
PY_OUTPUT_REL = Path("bindings/python/hubauth/_signatures.py")


class HeaderError(Exception):
    """The header has something this generator does not understand."""


# ----------------------------------------------------------------------------
# C side
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CType:
    base: str          # "char", "int32_t", "hubauth_auth", ...
    ptr: int = 0       # number of `*`
    const: bool = False  # `const` on the pointee (the only const cbindgen emits)

    def __str__(self) -> str:
        s = ("const " if self.const else "") + self.base
        return s + (" " + "*" * self.ptr if self.ptr else "")


@dataclass(frozen=True)
class Param:
    ctype: CType
    name: str
    decl: str | None = None   # the C text of an inline function-pointer parameter

    def __str__(self) -> str:
        if self.decl is not None:
            return self.decl
        sep = "" if self.ctype.ptr else " "
        return f"{self.ctype}{sep}{self.name}"


@dataclass
class Function:
    name: str
    ret: CType
    params: list[Param]
    doc: str
    line: int

    def prototype(self) -> str:
        ret = str(self.ret)
        ret = ret + ("" if self.ret.ptr else " ")
        args = ", ".join(str(p) for p in self.params) or "void"
        return f"{ret}{self.name}({args});"


@dataclass
class Define:
    name: str
    value: int
    doc: str
    line: int


@dataclass(frozen=True)
class Field:
    ctype: CType
    name: str
    doc: str = ""
    line: int = 0

    def __str__(self) -> str:
        sep = "" if self.ctype.ptr else " "
        return f"{self.ctype}{sep}{self.name};"


@dataclass
class Typedef:
    name: str
    kind: str                  # "opaque" | "alias" | "fnptr" | "struct"
    doc: str
    line: int
    target: CType | None = None            # alias
    ret: CType | None = None               # fnptr
    params: list[Param] = field(default_factory=list)  # fnptr
    inline: bool = False                   # fnptr: an inline parameter type, not a C name
    fields: list[Field] = field(default_factory=list)  # struct, in C order

    def signature(self) -> str:
        """`ret (*)(params)` of a function-pointer type."""
        args = ", ".join(str(p) for p in self.params) or "void"
        ret = str(self.ret) + ("" if self.ret.ptr else " ")
        return f"{ret}(*)({args})"


@dataclass
class Header:
    typedefs: list[Typedef]
    defines: list[Define]
    functions: list[Function]

    def typedef(self, name: str) -> Typedef | None:
        for t in self.typedefs:
            if t.name == name:
                return t
        return None

    def function(self, name: str) -> Function | None:
        for f in self.functions:
            if f.name == name:
                return f
        return None


IDENT = r"[A-Za-z_]\w*"
SCALARS = {
    "int8_t": "Int8", "int16_t": "Int16", "int32_t": "Int32", "int64_t": "Int64",
    "uint8_t": "UInt8", "uint16_t": "UInt16", "uint32_t": "UInt32", "uint64_t": "UInt64",
    "size_t": "Csize_t", "ssize_t": "Cssize_t", "intptr_t": "Int", "uintptr_t": "UInt",
    "bool": "Bool", "int": "Cint", "unsigned": "Cuint", "double": "Cdouble", "float": "Cfloat",
}


def parse_ctype(text: str, where: str) -> CType:
    """`const hubauth_options *` → CType("hubauth_options", 1, True)."""
    t = text.replace("*", " * ").split()
    const = False
    if t and t[0] == "const":
        const, t = True, t[1:]
    if not t or not re.fullmatch(IDENT, t[0]) or any(x != "*" for x in t[1:]):
        raise HeaderError(f"{where}: cannot read the C type {text.strip()!r}")
    return CType(t[0], len(t) - 1, const)


def split_top_level(text: str, where: str) -> list[str]:
    """Splits at the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise HeaderError(f"{where}: unbalanced parentheses in {text.strip()!r}")
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise HeaderError(f"{where}: unbalanced parentheses in {text.strip()!r}")
    parts.append(text[start:])
    return parts


def parse_params(text: str, where: str, inline: list[Typedef] | None = None) -> list[Param]:
    """The parameters of a prototype. An inline function-pointer parameter
    `ret (*name)(params)` is read when `inline` is given: its type is added
    there as an inline Typedef named `name_fn`, and the parameter refers to it."""
    text = text.strip()
    if text in ("", "void"):
        return []
    params = []
    for i, p in enumerate(split_top_level(text, where)):
        m = re.fullmatch(rf"\s*([^()]+?)\(\s*\*\s*({IDENT})\s*\)\s*\((.*)\)\s*", p)
        if m and inline is not None:
            fn = Typedef(f"{m.group(2)}_fn", "fnptr", "", 0, ret=parse_ctype(m.group(1), where),
                         params=parse_params(m.group(3), where), inline=True)
            inline.append(fn)
            params.append(Param(CType(fn.name), m.group(2), decl=" ".join(p.split())))
            continue
        m = re.fullmatch(rf"\s*([^()]*?[\s*])({IDENT})\s*", p)
        if not m:
            raise HeaderError(f"{where}: cannot read parameter {i + 1} {p.strip()!r} (unnamed?)")
        params.append(Param(parse_ctype(m.group(1), where), m.group(2)))
    return params


def _clean_doc(lines: list[str]) -> str:
    out = []
    for ln in lines:
        ln = ln.strip()
        if ln.startswith("/**"):
            ln = ln[3:]
        if ln.endswith("*/"):
            ln = ln[:-2]
        ln = ln.strip()
        if ln.startswith("*"):
            ln = ln[1:]
            ln = ln[1:] if ln.startswith(" ") else ln
        out.append(ln.rstrip())
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def parse_header(text: str, name: str = "include/hubauth.h") -> Header:
    typedefs: list[Typedef] = []
    defines: list[Define] = []
    functions: list[Function] = []
    lines = text.splitlines()
    doc = ""
    i = 0
    while i < len(lines):
        raw = lines[i]
        line = raw.strip()
        lineno = i + 1
        where = f"{name}:{lineno}"
        i += 1
        if not line:
            continue
        if line.startswith("/*"):                       # a comment, maybe a doc comment
            block = [raw]
            while "*/" not in block[-1]:
                if i >= len(lines):
                    raise HeaderError(f"{where}: unterminated comment")
                block.append(lines[i])
                i += 1
            rest = block[-1].split("*/", 1)[1].strip()
            if rest:
                raise HeaderError(f"{where}: code after a comment on one line: {rest!r}")
            doc = _clean_doc(block) if line.startswith("/**") else ""
            continue
        if line.startswith("//"):
            continue
        if line.startswith("#"):
            m = re.fullmatch(rf"#\s*define\s+({IDENT})(?:\s+(.*?))?\s*", line)
            if m and m.group(1).startswith("HUBAUTH_"):
                if m.group(2) is None:                  # the include guard
                    doc = ""
                    continue
                value = m.group(2)
                if not re.fullmatch(r"-?\d+", value) and not re.fullmatch(r"\(-?\d+\)", value):
                    raise HeaderError(f"{where}: #define {m.group(1)} is not an integer: {value!r}")
                defines.append(Define(m.group(1), int(value.strip("()")), doc, lineno))
            elif not re.match(r"#\s*(ifndef|ifdef|if|endif|else|elif|include|define|pragma)\b", line):
                raise HeaderError(f"{where}: unexpected preprocessor line {line!r}")
            doc = ""
            continue
        if re.fullmatch(r'extern\s+"C"\s*\{', line) or re.fullmatch(r"\}\s*(//.*)?", line):
            continue
        code = re.sub(r"\s*//.*$", "", line)
        m = re.fullmatch(rf"typedef\s+struct(?:\s+({IDENT}))?\s*\{{", code)
        if m:
            t, i = _parse_struct_body(lines, i, m.group(1), doc, lineno, name)
            typedefs.append(t)
            doc = ""
            continue
        m = re.fullmatch(rf"typedef\s+struct\s+({IDENT})\s+({IDENT})\s*;", code)
        if m:
            if m.group(1) != m.group(2):
                raise HeaderError(f"{where}: typedef struct {m.group(1)} {m.group(2)}: names differ")
            typedefs.append(Typedef(m.group(2), "opaque", doc, lineno))
            doc = ""
            continue
        m = re.fullmatch(rf"typedef\s+(.+?)\(\s*\*\s*({IDENT})\s*\)\s*\((.*)\)\s*;", code)
        if m:
            typedefs.append(Typedef(m.group(2), "fnptr", doc, lineno,
                                    ret=parse_ctype(m.group(1), where),
                                    params=parse_params(m.group(3), where)))
            doc = ""
            continue
        m = re.fullmatch(rf"typedef\s+([^()]+?)\s*({IDENT})\s*;", code)
        if m:
            typedefs.append(Typedef(m.group(2), "alias", doc, lineno,
                                    target=parse_ctype(m.group(1), where)))
            doc = ""
            continue
        m = re.fullmatch(rf"([^()]+?[\s*])({IDENT})\s*\((.*)\)\s*;", code)
        if m:
            inline: list[Typedef] = []
            functions.append(Function(m.group(2), parse_ctype(m.group(1), where),
                                      parse_params(m.group(3), where, inline), doc, lineno))
            for fn in inline:
                fn.line = lineno
                same = next((t for t in typedefs if t.name == fn.name), None)
                if same is None:
                    typedefs.append(fn)
                elif not same.inline or same.signature() != fn.signature():
                    raise HeaderError(f"{where}: inline callback type {fn.name} ({fn.signature()}) "
                                      f"clashes with line {same.line}")
            doc = ""
            continue
        raise HeaderError(f"{where}: unrecognised line {line!r} (one declaration per line expected)")
    hdr = Header(typedefs, defines, functions)
    _validate(hdr, name)
    return hdr


def _parse_struct_body(lines: list[str], i: int, tag: str | None, doc: str, start: int,
                       name: str) -> tuple[Typedef, int]:
    """The fields of `typedef struct [tag] {` (its line is start; lines[i] is
    the first after it) up to `} name;`. Each field is one line `type name;`,
    maybe after a doc comment; anything else is an error. Returns the struct
    and the index of the line after its end."""
    fields: list[Field] = []
    fdoc = ""
    while i < len(lines):
        raw = lines[i]
        line = raw.strip()
        lineno = i + 1
        where = f"{name}:{lineno}"
        i += 1
        if not line:
            continue
        if line.startswith("/*"):
            block = [raw]
            while "*/" not in block[-1]:
                if i >= len(lines):
                    raise HeaderError(f"{where}: unterminated comment")
                block.append(lines[i])
                i += 1
            rest = block[-1].split("*/", 1)[1].strip()
            if rest:
                raise HeaderError(f"{where}: code after a comment on one line: {rest!r}")
            fdoc = _clean_doc(block) if line.startswith("/**") else ""
            continue
        if line.startswith("//"):
            continue
        code = re.sub(r"\s*//.*$", "", line)
        m = re.fullmatch(rf"\}}\s*({IDENT})\s*;", code)
        if m:
            if tag is not None and tag != m.group(1):
                raise HeaderError(f"{where}: typedef struct {tag} {{...}} {m.group(1)}: names differ")
            if not fields:
                raise HeaderError(f"{where}: struct {m.group(1)} has no fields")
            return Typedef(m.group(1), "struct", doc, start, fields=fields), i
        m = re.fullmatch(rf"([^()\[\]{{}};,]+?[\s*])({IDENT})\s*;", code)
        if not m:
            raise HeaderError(f"{where}: unrecognised struct member {line!r} "
                              "(one `type name;` per line expected; no arrays, bit-fields, "
                              "nested structs or function pointers)")
        fields.append(Field(parse_ctype(m.group(1), where), m.group(2), fdoc, lineno))
        fdoc = ""
    raise HeaderError(f"{name}:{start}: struct without its closing `}} name;`")


def _validate(hdr: Header, name: str) -> None:
    seen: dict[str, int] = {}
    for item in [*hdr.typedefs, *hdr.defines, *hdr.functions]:
        if item.name in seen:
            raise HeaderError(f"{name}:{item.line}: {item.name} declared twice (also line {seen[item.name]})")
        seen[item.name] = item.line
    # every type used must be mappable: fail here, not in half-written output
    for f in hdr.functions:
        julia_type(hdr, f.ret, "ret", f"{name}:{f.line}")
        for p in f.params:
            julia_type(hdr, p.ctype, "arg", f"{name}:{f.line}")
    for t in hdr.typedefs:
        if t.kind == "fnptr":
            julia_type(hdr, t.ret, "cb_ret", f"{name}:{t.line}")
            for p in t.params:
                julia_type(hdr, p.ctype, "cb_arg", f"{name}:{t.line}")
        if t.kind == "struct":
            seen_f: set[str] = set()
            for fl in t.fields:
                if fl.name in seen_f:
                    raise HeaderError(f"{name}:{fl.line}: field {fl.name} of {t.name} declared twice")
                seen_f.add(fl.name)
                julia_type(hdr, fl.ctype, "field", f"{name}:{fl.line}")
                py_type(hdr, fl.ctype, "field", where=f"{name}:{fl.line}")


# ----------------------------------------------------------------------------
# The C → Julia type map (shared with the checker)
# ----------------------------------------------------------------------------
#
# position: "arg" (Julia passes it to C), "ret" (C returns it to Julia),
#           "cb_arg" / "cb_ret" (a callback's parameters / result),
#           "field" (a member of a struct typedef).
#
#   int32_t → Int32   int64_t → Int64   size_t → Csize_t   bool → Bool
#   bool *  → Ptr{Bool}                  void * → Ptr{Cvoid}   void (ret) → Cvoid
#   const char * argument → Cstring (Julia checks for NUL bytes, passes a String)
#   char * returned (owned, hubauth_string_free) → Ptr{UInt8}: a Cstring result
#       invites unsafe_string without the free; Ptr{UInt8} is freed explicitly
#   const char * returned (borrowed) → Ptr{UInt8} too (one rule for results)
#   char * argument (hubauth_string_free) → Ptr{UInt8}: a pointer C gave us
#   opaque handle hubauth_x * → Ptr{hubauth_x}, a distinct type per handle
#       (`mutable struct hubauth_x end`, never instantiated), so that a
#       checker can tell an auth from a secret;  handle ** → Ptr{Ptr{hubauth_x}}
#   scalar typedef → its target;   function-pointer typedef → Ptr{Cvoid}
#   struct typedef hubauth_x (fields) → an isbits `struct hubauth_x` with the
#       C fields in C order; `hubauth_x *` → Ptr{hubauth_x} (pass a Ref{hubauth_x});
#       by value: refused. A struct member `const char *` → Ptr{UInt8} (borrowed).
#
# julia_type() gives the canonical spelling the generator writes;
# accepted_types() the spellings the checker also accepts in hand-written code
# (after it has expanded aliases such as `Ptr{hubauth_auth}` and `Cint`).


def _pointee(hdr: Header, base: str, where: str) -> str:
    if base == "void":
        return "Cvoid"
    if base == "char":
        return "UInt8"
    if base in SCALARS:
        return SCALARS[base]
    t = hdr.typedef(base)
    if t is None:
        raise HeaderError(f"{where}: unknown C type {base!r}")
    if t.kind == "opaque":
        return t.name
    if t.kind == "fnptr":
        return "Ptr{Cvoid}"
    if t.kind == "struct":
        return t.name
    return julia_type(hdr, t.target, "arg", where)


def julia_type(hdr: Header, ct: CType, position: str, where: str = "") -> str:
    if ct.ptr == 0:
        if ct.base == "void":
            if position not in ("ret", "cb_ret"):
                raise HeaderError(f"{where}: void parameter")
            return "Cvoid"
        if ct.base == "char":
            raise HeaderError(f"{where}: plain char is not mapped")
        t = hdr.typedef(ct.base)
        if t is not None and t.kind in ("opaque", "struct"):
            raise HeaderError(f"{where}: {t.kind} {ct.base} by value (only pointers to it are mapped)")
        return _pointee(hdr, ct.base, where)
    if ct.ptr == 1 and ct.base == "char":
        if ct.const and position in ("arg", "cb_arg"):
            return "Cstring"
        return "Ptr{UInt8}"
    inner = _pointee(hdr, ct.base, where)
    for _ in range(ct.ptr):
        inner = f"Ptr{{{inner}}}"
    return inner


def accepted_types(hdr: Header, ct: CType, position: str, fn_name: str = "") -> list[str]:
    """Canonical first, then other spellings that are equally correct. A
    non-const `char *` argument may be a Cstring only for a `*_free`
    function (a string C gave us); elsewhere it is a buffer C writes, which
    a Cstring argument would scan for NUL and refuse."""
    canon = julia_type(hdr, ct, position)
    ok = [canon]
    if ct.ptr == 1 and ct.base == "char":
        if position == "ret" and ct.const:
            ok.append("Cstring")            # borrowed: nothing to free
        elif position == "arg" and not ct.const and fn_name.endswith("_free"):
            ok.append("Cstring")
        elif position == "cb_arg":
            ok.append("Ptr{UInt8}")
    if position == "arg" and canon.startswith("Ptr{") and canon not in ("Ptr{Cvoid}", "Ptr{UInt8}"):
        ok.append("Ref{" + canon[4:])       # Ref{T} passes a pointer to T (bool *, handle **)
    return ok


# ----------------------------------------------------------------------------
# Julia side
# ----------------------------------------------------------------------------

JULIA_KEYWORDS = {
    "baremodule", "begin", "break", "catch", "const", "continue", "do", "else", "elseif",
    "end", "export", "false", "finally", "for", "function", "global", "if", "import",
    "let", "local", "macro", "module", "quote", "return", "struct", "true", "try",
    "using", "while", "abstract", "mutable", "primitive", "type", "where", "in", "isa",
}


def julia_ident(name: str) -> str:
    return name + "_" if name in JULIA_KEYWORDS else name


def docstring(text: str, indent: str = "") -> str:
    """A Julia triple-quoted docstring; `\\`, `$` and `\"\"\"` escaped."""
    body = text.replace("\\", "\\\\").replace("$", "\\$").replace('"""', '\\"\\"\\"')
    lines = ['"""'] + body.split("\n") + ['"""']
    return "\n".join((indent + ln) if ln else "" for ln in lines)


PREAMBLE = '''\
# GENERATED by bindings/julia/gen/generate.py from include/hubauth.h; do not edit.
# Regenerate: python3 bindings/julia/gen/generate.py
# Checked by: python3 bindings/julia/check_ccalls.py (CI fails when this file drifts)

"""
    LibHubAuth

The C API of hubauth as it is: one Julia function per C function in
`include/hubauth.h`, each a single `ccall` with the exact C signature, plus
the `HUBAUTH_*` constants and the handle types. No ownership, no error
handling: that is the job of the high-level API in `HubAuth`.

Types: each opaque handle is a type of its own (`mutable struct hubauth_auth
end`), used only as `Ptr{hubauth_auth}`; `hubauth_auth **` out-parameters are
`Ptr{Ptr{hubauth_auth}}` (pass a `Ref{Ptr{hubauth_auth}}`); struct typedefs
(`hubauth_job_event`) are isbits structs with C's layout (pass a `Ref`);
`const char *` arguments are `Cstring`, returned strings are `Ptr{UInt8}`
(free the owned `char *` ones with [`hubauth_string_free`](@ref)). Julia
converts any `Ptr` to any other `Ptr` in a `ccall`, so these types are checked
by bindings/julia/check_ccalls.py, not at run time: write the handle type
out (`Ptr{L.hubauth_auth}`) wherever a pointer is kept.
"""
module LibHubAuth

import Libdl
import HubAuth_jll

# ---------------------------------------------------------------------------
# The library
#
# `libhubauth` is an ordinary (non-const) global, set by `__init__` and used as
# `ccall((:name, libhubauth), ...)`. Since Julia 1.6 (JuliaLang/julia#37123)
# the library part of a ccall may be a non-constant expression: it is evaluated
# the first time each call site runs and the looked-up pointer is cached, so the
# path can be chosen at load time (ENV, HubAuth_jll) and still cost nothing
# per call. A `const` would freeze the path at precompile time; `Libdl.dlsym` +
# `ccall(ptr, ...)` would hide the symbol names from check_ccalls.py.
# Consequence: set ENV["HUBAUTH_LIB"] before `using HubAuth`; later changes have
# no effect on call sites that already ran.
# ---------------------------------------------------------------------------

"""
The shared library every `ccall` in this module goes to, chosen by
[`find_library`](@ref) when the module is loaded.
"""
libhubauth = "libhubauth"

_libname() = Sys.iswindows() ? "hubauth.dll" : "libhubauth." * Libdl.dlext

"""
    find_library() -> String

Where the library comes from, first that applies:

1. `ENV["HUBAUTH_LIB"]` (a path or a name): the override for development,
   e.g. `HUBAUTH_LIB=target/debug/libhubauth.so` in a checkout (HubAuth_jll's
   own overrides, JLLWrappers' `Overrides.toml` or its `libhubauth_path`
   preference, work too and act inside step 2);
2. `HubAuth_jll`, HubAuth's dependency (built by
   bindings/julia/jll/build_tarballs.jl), when it has a build for this
   platform;
3. the repository's own build, `target/release` then `target/debug` (four
   levels above this file), for a checkout on a platform without a JLL build;

else `"libhubauth"`, found by the system's loader.
"""
function find_library()
    lib = get(ENV, "HUBAUTH_LIB", "")
    isempty(lib) || return lib
    jll = jll_library()
    jll === nothing || return jll
    root = joinpath(@__DIR__, "..", "..", "..", "..")
    for profile in ("release", "debug")
        path = normpath(joinpath(root, "target", profile, _libname()))
        isfile(path) && return path
    end
    return "libhubauth"
end

"""
    jll_library() -> Union{String, Nothing}

The library of `HubAuth_jll` (`HubAuth_jll.libhubauth_path`), or `nothing`
when it has no build for this platform.
"""
function jll_library()
    isdefined(HubAuth_jll, :is_available) && !HubAuth_jll.is_available() && return nothing
    isdefined(HubAuth_jll, :libhubauth_path) || return nothing
    path = HubAuth_jll.libhubauth_path
    return path isa AbstractString && !isempty(path) ? String(path) : nothing
end

function __init__()
    global libhubauth = find_library()
    return nothing
end
'''


def _julia_zero(jt: str) -> str:
    """The all-zero value of a field type (C's NULL, false, 0)."""
    if jt.startswith("Ptr{"):
        return "C_NULL"
    if jt == "Bool":
        return "false"
    return f"{jt}(0)"


def render(hdr: Header) -> str:
    out = [PREAMBLE]
    out.append("# ---------------------------------------------------------------------------")
    out.append("# Types")
    out.append("# ---------------------------------------------------------------------------")
    out.append("")
    for t in hdr.typedefs:
        if t.inline:
            continue                      # not a C name: documented with its function
        if t.kind == "opaque":
            out.append(docstring(f"`{t.name}` (opaque: only `Ptr{{{t.name}}}` is ever used; a type of "
                                 f"its own, so that one handle kind cannot pass for another)\n\n{t.doc}".rstrip()))
            out.append(f"mutable struct {t.name} end")
        elif t.kind == "struct":
            body = "\n".join(f"    {f}" for f in t.fields)
            out.append(docstring(
                f"`typedef struct {{ ... }} {t.name};`, field for field (an isbits struct with "
                f"C's layout: pass a `Ref{{{t.name}}}` where C takes `{t.name} *`).\n\n"
                f"```c\ntypedef struct {{\n{body}\n}} {t.name};\n```\n\n{t.doc}".rstrip()))
            out.append(f"struct {t.name}")
            for fl in t.fields:
                if fl.doc:
                    out.append(docstring(fl.doc, "    "))
                out.append(f"    {julia_ident(fl.name)}::{julia_type(hdr, fl.ctype, 'field')}")
            out.append("end")
            zero = ", ".join(_julia_zero(julia_type(hdr, fl.ctype, 'field')) for fl in t.fields)
            out.append(f"{t.name}() = {t.name}({zero})")
        elif t.kind == "alias":
            jt = julia_type(hdr, t.target, "arg")
            out.append(docstring(f"`typedef {t.target} {t.name};`\n\n{t.doc}".rstrip()))
            out.append(f"const {t.name} = {jt}")
        else:
            args = ", ".join(str(p) for p in t.params)
            jargs = ", ".join(julia_type(hdr, p.ctype, "cb_arg") for p in t.params)
            jret = julia_type(hdr, t.ret, "cb_ret")
            sig = f"@cfunction(f, {jret}, ({jargs}{',' if len(t.params) == 1 else ''}))"
            out.append(docstring(
                f"`typedef {t.ret} (*{t.name})({args});`\n\n"
                f"A C function pointer: make one with `{sig}`.\n\n{t.doc}".rstrip()))
            out.append(f"const {t.name} = Ptr{{Cvoid}}")
        out.append("")
    out.append("# ---------------------------------------------------------------------------")
    out.append("# Constants (`#define HUBAUTH_*`; status codes are `hubauth_status`, Int32)")
    out.append("# ---------------------------------------------------------------------------")
    out.append("")
    for d in hdr.defines:
        if d.doc:
            out.append(docstring(d.doc))
        out.append(f"const {d.name} = Int32({d.value})")
        out.append("")
    out.append("# ---------------------------------------------------------------------------")
    out.append("# Functions, in header order")
    out.append("# ---------------------------------------------------------------------------")
    out.append("")
    for f in hdr.functions:
        names = [julia_ident(p.name) for p in f.params]
        jret = julia_type(hdr, f.ret, "ret")
        jargs = [julia_type(hdr, p.ctype, "arg") for p in f.params]
        if len(jargs) == 1:
            types = f"({jargs[0]},)"
        else:
            types = "(" + ", ".join(jargs) + ")"
        call_args = "".join(", " + n for n in names)
        sig = f"{f.name}({', '.join(names)}) -> {jret}"
        doc = f"    {sig}\n\n```c\n{f.prototype()}\n```"
        if f.doc:
            doc += "\n\n" + f.doc
        out.append(docstring(doc))
        out.append(f"function {f.name}({', '.join(names)})")
        out.append(f"    ccall((:{f.name}, libhubauth), {jret}, {types}{call_args})")
        out.append("end")
        out.append("")
    out.append("end # module LibHubAuth")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------
# Python side: the ctypes signature table read by bindings/python/hubauth/_lib.py
# ----------------------------------------------------------------------------
#
# Types are written as names that _lib resolves (never ctypes objects, so the
# table is plain data):
#
#   int32_t → c_int32 (scalar typedefs such as hubauth_status: their target)
#   int64_t → c_int64   size_t → c_size_t   bool → c_bool   void (result) → None
#   void * → c_void_p
#   const char * (argument or borrowed result) → c_char_p (copies; nothing to free)
#   char * result (owned; hubauth_string_free) → OwnedString: keeps the pointer to free
#   char * argument of a *_free function → OwnedString (a pointer C gave us)
#   char * other argument (a buffer C writes) → POINTER(c_char)
#   hubauth_x * → XPtr (a distinct handle class per opaque type); hubauth_x ** → POINTER(XPtr)
#   scalar * → POINTER(c_...)
#   function-pointer typedef hubauth_hook_fn → HOOK_FN (a CFUNCTYPE from FN_POINTERS)
#   inline function-pointer parameter `void (*free_userdata)(void *)` → FREE_USERDATA_FN
#       (a CFUNCTYPE from FN_POINTERS, its C name there being its signature)
#   struct typedef hubauth_job_event → STRUCTS["JobEvent"] = (C name, [(field, type)]),
#       the _fields_ of a ctypes.Structure, in C order; a member `const char *` →
#       c_char_p (borrowed: reading it copies), hubauth_x * → XPtr, bool → c_bool
#   hubauth_job_event * argument → c_void_p in SIGNATURES (pass
#       ctypes.byref(event)); STRUCT_PARAMS[function][index] = "JobEvent"
#       says which struct it points to

PY_SCALARS = {
    "int8_t": "c_int8", "int16_t": "c_int16", "int32_t": "c_int32", "int64_t": "c_int64",
    "uint8_t": "c_uint8", "uint16_t": "c_uint16", "uint32_t": "c_uint32", "uint64_t": "c_uint64",
    "size_t": "c_size_t", "ssize_t": "c_ssize_t", "intptr_t": "c_ssize_t", "uintptr_t": "c_size_t",
    "bool": "c_bool", "int": "c_int", "unsigned": "c_uint", "double": "c_double", "float": "c_float",
}


def py_handle_name(c_name: str) -> str:
    """hubauth_options → OptionsPtr."""
    base = c_name[len("hubauth_"):] if c_name.startswith("hubauth_") else c_name
    return "".join(w.capitalize() for w in base.split("_")) + "Ptr"


def py_fnptr_name(c_name: str) -> str:
    """hubauth_hook_fn → HOOK_FN."""
    return (c_name[len("hubauth_"):] if c_name.startswith("hubauth_") else c_name).upper()


def py_type(hdr: Header, ct: CType, position: str, fn_name: str = "", where: str = "") -> str | None:
    base = ct.base
    t = hdr.typedef(base)
    while t is not None and t.kind == "alias" and t.target.ptr == 0 and not t.target.const:
        base = t.target.base
        t = hdr.typedef(base)
    if ct.ptr == 0:
        if base == "void":
            if position not in ("ret", "cb_ret"):
                raise HeaderError(f"{where}: void parameter")
            return None
        if t is not None and t.kind == "struct":
            raise HeaderError(f"{where}: struct {base} by value has no ctypes mapping here")
        if t is not None and t.kind == "fnptr":
            return py_fnptr_name(base)
        if base in PY_SCALARS:
            return PY_SCALARS[base]
        raise HeaderError(f"{where}: no ctypes type for {ct}")
    if ct.ptr == 1 and base == "char":
        if ct.const:
            return "c_char_p"
        if position == "field":
            raise HeaderError(f"{where}: a non-const char * struct member has no ctypes mapping here")
        if position == "ret" or fn_name.endswith("_free"):
            return "OwnedString"
        return "POINTER(c_char)"
    if ct.ptr == 1 and base == "void":
        return "c_void_p"
    if t is not None and t.kind == "struct":
        if ct.ptr == 1 and position in ("arg", "cb_arg"):
            # c_void_p, which takes ctypes.byref(the Structure): a name _lib
            # resolves without knowing STRUCTS. STRUCT_PARAMS names the
            # struct, for a _lib that builds it and declares POINTER(it).
            return "c_void_p"
        raise HeaderError(f"{where}: no ctypes type for {ct} (only a struct pointer argument is mapped)")
    if t is not None and t.kind == "opaque":
        inner = py_handle_name(base)
        depth = ct.ptr - 1
    elif base in PY_SCALARS:
        inner = PY_SCALARS[base]
        depth = ct.ptr
    else:
        raise HeaderError(f"{where}: no ctypes type for {ct}")
    for _ in range(depth):
        inner = f"POINTER({inner})"
    return inner


def py_struct_name(c_name: str) -> str:
    """hubauth_job_event → JobEvent."""
    base = c_name[len("hubauth_"):] if c_name.startswith("hubauth_") else c_name
    return "".join(w.capitalize() for w in base.split("_"))


PY_PREAMBLE = '''\
# GENERATED by bindings/julia/gen/generate.py from include/hubauth.h; do not edit.
# Regenerate: python3 bindings/julia/gen/generate.py
# Checked by: python3 bindings/julia/gen/generate.py --check (CI fails when this file drifts)
"""The C API of include/hubauth.h as data, for ``hubauth._lib``.

Types are ctypes names that ``_lib`` resolves: ``c_*`` from ctypes, ``None``
for void, ``XPtr`` the handle class of the opaque ``hubauth_x``,
``OwnedString`` a ``char *`` the caller frees, ``POINTER(T)`` a pointer to T,
``HOOK_FN`` and the other callback types of ``FN_POINTERS``. A pointer to a
struct of ``STRUCTS`` is ``c_void_p`` in ``SIGNATURES`` (pass
``ctypes.byref(s)``); ``STRUCT_PARAMS`` says which struct each one points to.
"""

from typing import Dict, List, Optional, Tuple
'''


def render_python(hdr: Header) -> str:
    out = [PY_PREAMBLE]
    out.append("#: ``#define HUBAUTH_*`` of the header.")
    for d in hdr.defines:
        out.append(f"{d.name} = {d.value}")
    out.append("")
    out.append("#: Opaque structs (C name → handle class name).")
    out.append("HANDLES: Dict[str, str] = {")
    for t in hdr.typedefs:
        if t.kind == "opaque":
            out.append(f"    {t.name!r}: {py_handle_name(t.name)!r},")
    out.append("}")
    out.append("")
    out.append("#: Function-pointer typedefs: class name → (C name, restype, argtypes).")
    out.append("FN_POINTERS: Dict[str, Tuple[str, Optional[str], List[str]]] = {")
    for t in hdr.typedefs:
        if t.kind == "fnptr":
            where = f"{HEADER_REL}:{t.line}"
            ret = py_type(hdr, t.ret, "cb_ret", where=where)
            args = [py_type(hdr, p.ctype, "cb_arg", where=where) for p in t.params]
            c_name = t.signature() if t.inline else t.name
            out.append(f"    {py_fnptr_name(t.name)!r}: ({c_name!r}, {ret!r}, {args!r}),")
    out.append("}")
    out.append("")
    out.append("#: Struct typedefs with fields: class name → (C name, [(field, type), ...]),")
    out.append("#: the ``_fields_`` of a ctypes.Structure in C order.")
    out.append("STRUCTS: Dict[str, Tuple[str, List[Tuple[str, str]]]] = {")
    for t in hdr.typedefs:
        if t.kind == "struct":
            out.append(f"    {py_struct_name(t.name)!r}: ({t.name!r}, [")
            for fl in t.fields:
                ft = py_type(hdr, fl.ctype, "field", where=f"{HEADER_REL}:{fl.line}")
                out.append(f"        ({fl.name!r}, {ft!r}),  # {fl}")
            out.append("    ]),")
    out.append("}")
    out.append("")
    out.append("#: Arguments that point to a struct of STRUCTS (``c_void_p`` in SIGNATURES):")
    out.append("#: function → {argument index (0-based) → struct class name}.")
    out.append("STRUCT_PARAMS: Dict[str, Dict[int, str]] = {")
    for f in hdr.functions:
        idx = {}
        for k, p in enumerate(f.params):
            t = hdr.typedef(p.ctype.base)
            if t is not None and t.kind == "struct":
                idx[k] = py_struct_name(t.name)
        if idx:
            out.append(f"    {f.name!r}: {idx!r},")
    out.append("}")
    out.append("")
    out.append("#: Every function, in header order: name → (restype, argtypes).")
    out.append("SIGNATURES: Dict[str, Tuple[Optional[str], List[str]]] = {")
    for f in hdr.functions:
        where = f"{HEADER_REL}:{f.line}"
        ret = py_type(hdr, f.ret, "ret", f.name, where)
        args = [py_type(hdr, p.ctype, "arg", f.name, where) for p in f.params]
        out.append(f"    {f.name!r}: ({ret!r}, {args!r}),  # {f.prototype()}")
    out.append("}")
    return "\n".join(out) + "\n"


def generate(root: Path) -> str:
    header = root / HEADER_REL
    return render(parse_header(header.read_text(encoding="utf-8"), str(HEADER_REL)))


def generate_all(root: Path) -> dict[Path, str]:
    """Every generated file (path relative to the root → its text)."""
    hdr = parse_header((root / HEADER_REL).read_text(encoding="utf-8"), str(HEADER_REL))
    return {OUTPUT_REL: render(hdr), PY_OUTPUT_REL: render_python(hdr)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true",
                   help="exit 1 if LibHubAuth.jl or _signatures.py differs from the header")
    g.add_argument("--stdout", action="store_true", help="print LibHubAuth.jl instead of writing anything")
    args = ap.parse_args(argv)
    try:
        files = generate_all(args.root)
    except (HeaderError, OSError) as e:
        print(f"generate.py: {e}", file=sys.stderr)
        return 1
    if args.stdout:
        sys.stdout.write(files[OUTPUT_REL])
        return 0
    if args.check:
        stale = []
        for rel, text in files.items():
            out = args.root / rel
            current = out.read_text(encoding="utf-8") if out.exists() else None
            if current != text:
                stale.append(rel)
                print(f"generate.py: {rel} is stale; run python3 bindings/julia/gen/generate.py", file=sys.stderr)
            else:
                print(f"{rel} is up to date")
        return 1 if stale else 0
    for rel, text in files.items():
        out = args.root / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
