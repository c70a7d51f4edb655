#!/usr/bin/env python3
"""Checks the Julia binding against include/hubauth.h, without Julia.

    python3 bindings/julia/check_ccalls.py [--root REPO]

Reads the header (with the generator's parser) and every .jl file under
bindings/julia/HubAuth/src and bindings/julia/HubAuth/test, and fails (exit 1)
unless:

  * every `ccall((:sym, lib), Ret, (Args...,), vals...)` and every
    `@ccall [gc_safe=true] lib.sym(v::T, ...)::Ret` names a function declared
    in the header, goes to the library (`libhubauth` inside LibHubAuth.jl,
    `L.libhubauth` or `LibHubAuth.libhubauth` elsewhere, where a bare
    `libhubauth` is undefined), and has the header's return type, number of
    arguments and argument types (by the type map in gen/generate.py; a
    non-const `char *` buffer is never a Cstring), and a ccall passes as many
    values as it declares types;
  * every `@cfunction(f, Ret, (Args...,))` matches a function-pointer typedef
    of the header;
  * no call hides from this check (`ccall(pointer, ...)`, `@ccall $f(...)`,
    argument types that are not a tuple literal);
  * every header function has a wrapper in LibHubAuth.jl, every
    `#define HUBAUTH_*` a constant there with the same value;
  * LibHubAuth.jl is byte for byte what gen/generate.py makes of the header now;
  * every call of a generated wrapper outside LibHubAuth.jl (`L.hubauth_f(...)`,
    `LibHubAuth.hubauth_f(...)`) names a header function, passes as many
    arguments as it has (one fewer under `@check`, which supplies `err`), and
    each argument has a type the checker can infer (see "The types of the
    arguments" below) that fits its C parameter: the right handle type
    (Ptr{hubauth_auth} is not Ptr{hubauth_secret}, nor Ptr{Cvoid}), a
    callback of that parameter's typedef, an output buffer that is not a
    string, no borrowed `const char *` given to hubauth_string_free (nor to a
    function of ours that passes its argument there);
  * the binding itself (HubAuth/src) calls no blocking function that can
    wait on the network or a lock: each one the header names as a job kind
    (`Job kind: `hubauth_f``), and hubauth_token_copy, runs as a job
    instead, so no such wait holds Julia's GC. PENDING_ABI names C
    functions being added to the header in parallel (arity only); once the
    header declares one, the header decides.

Prints one line per failure, then `julia binding: N ccalls match
include/hubauth.h` (on success) and, last, `P passed, F failed`. Python stdlib
only. Tests: python3 -m unittest discover -s bindings/julia -p 'test_*.py'
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.dont_write_bytecode = True  # keep the checkout clean
HERE = Path(__file__).resolve().parent
SRC_REL = Path("bindings/julia/HubAuth/src")
TEST_REL = Path("bindings/julia/HubAuth/test")
SCAN_RELS = (SRC_REL, TEST_REL)          # runtests.jl calls the wrappers too
LIB_FILE = "LibHubAuth.jl"


# C functions the binding calls before include/hubauth.h declares them:
# name → number of parameters (the C ABI as pinned in include/hubauth.h).
PENDING_ABI: dict[str, int] = {}  # none: the cancel functions are in the header now

# Blocking functions the header has no job kind of its own for: the token into
# a caller's buffer (HUBAUTH_JOB_TOKEN is its job).
BLOCKING_WITHOUT_KIND = frozenset({"hubauth_token_copy"})


def blocking_functions(header_text: str) -> frozenset[str]:
    """The calls that can wait on the network or a lock: the blocking form of
    every job kind (its doc comment in the header: `Job kind: `hubauth_f``),
    and BLOCKING_WITHOUT_KIND."""
    named = re.findall(r"Job kind: `(hubauth_\w+)`", header_text)
    return frozenset(named) | BLOCKING_WITHOUT_KIND


def _load_generator():
    spec = importlib.util.spec_from_file_location("hubauth_julia_generate", HERE / "gen" / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


gen = _load_generator()


# ----------------------------------------------------------------------------
# A small Julia lexer: which characters are code (not comment, not string)
# ----------------------------------------------------------------------------


class JuliaLexError(Exception):
    pass


_IDCHAR = re.compile(r"[A-Za-z0-9_!\u00a0-\uffff]")


CODE, STRING, COMMENT = 0, 1, 2


def code_mask(text: str) -> list[int]:
    """kind[i] of each character: CODE, STRING (string, char and command
    literals, their interpolations included: a `ccall` in `"$(ccall(...))"` is
    not checked, so don't write one) or COMMENT."""
    n = len(text)
    mask = [CODE] * n
    i = 0

    def blank(a: int, b: int, kind: int) -> None:
        for k in range(a, min(b, n)):
            mask[k] = kind

    def skip_string(i: int, delim: str, raw: bool) -> int:
        """i points just after the opening delimiter; returns index after the close."""
        depth_interp = 0
        while i < n:
            c = text[i]
            if c == "\\" and not raw:
                i += 2
                continue
            if c == "\\" and raw:
                # raw strings: 2k backslashes before a quote are k backslashes
                # and the quote ends the string; 2k+1 escape the quote
                j = i
                while j < n and text[j] == "\\":
                    j += 1
                i = j + 1 if (j < n and text[j] == delim[0] and (j - i) % 2 == 1) else j
                continue
            if not raw and c == "$" and i + 1 < n and text[i + 1] == "(":
                # interpolation: skip balanced parens, minding nested strings
                i += 2
                depth_interp = 1
                while i < n and depth_interp:
                    c2 = text[i]
                    if c2 == "(":
                        depth_interp += 1
                    elif c2 == ")":
                        depth_interp -= 1
                    elif c2 in "\"`":
                        d = c2 * 3 if text.startswith(c2 * 3, i) else c2
                        i = skip_string(i + len(d), d, False)
                        continue
                    i += 1
                continue
            if text.startswith(delim, i):
                return i + len(delim)
            i += 1
        raise JuliaLexError(f"unterminated string starting with {delim}")

    while i < n:
        c = text[i]
        if c == "#":
            if i + 1 < n and text[i + 1] == "=":          # #= nested =#
                start, depth, i = i, 1, i + 2
                while i < n and depth:
                    if text.startswith("#=", i):
                        depth, i = depth + 1, i + 2
                    elif text.startswith("=#", i):
                        depth, i = depth - 1, i + 2
                    else:
                        i += 1
                if depth:
                    raise JuliaLexError("unterminated #= comment")
                blank(start, i, COMMENT)
            else:
                start = i
                while i < n and text[i] != "\n":
                    i += 1
                blank(start, i, COMMENT)
            continue
        if c in "\"`":
            start = i
            # a string macro prefix (raw"...", r"...", b"...") is an identifier
            # right before the quote
            j = i
            while j > 0 and _IDCHAR.match(text[j - 1]):
                j -= 1
            prefix = text[j:i]
            raw = prefix not in ("", "b")
            delim = c * 3 if text.startswith(c * 3, i) else c
            i = skip_string(i + len(delim), delim, raw)
            blank(start, i, STRING)
            continue
        if c == "'":
            prev = text[i - 1] if i > 0 else " "
            if _IDCHAR.match(prev) or prev in ")]}'.":
                i += 1                                     # adjoint / transpose
                continue
            start = i
            i += 1
            if i < n and text[i] == "\\":
                i += 2
            while i < n and text[i] != "'" and text[i] != "\n":
                i += 1
            if i >= n or text[i] != "'":
                raise JuliaLexError("unterminated character literal")
            i += 1
            blank(start, i, STRING)
            continue
        i += 1
    return mask


def at_paren(text: str, pos: int) -> bool:
    """A call: `(` right after the name (spaces allowed, as the parser does)."""
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos < len(text) and text[pos] == "("


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def split_call(text: str, mask: list[int], open_pos: int) -> tuple[list[tuple[str, int]], int]:
    """text[open_pos] is '('. Returns the top-level comma-separated arguments
    (text, start) and the index after the matching ')'."""
    depth = 0
    args: list[tuple[str, int]] = []
    start = open_pos + 1
    i = open_pos
    n = len(text)
    while i < n:
        if mask[i] == CODE:
            c = text[i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth == 0:
                    args.append((text[start:i], start))
                    return args, i + 1
            elif c == "," and depth == 1:
                args.append((text[start:i], start))
                start = i + 1
        i += 1
    raise JuliaLexError("unbalanced parentheses")


def strip_code(s: str, mask: list[int], start: int) -> str:
    """An argument without comments and without whitespace outside strings."""
    return "".join(ch for k, ch in enumerate(s)
                   if mask[start + k] == STRING or (mask[start + k] == CODE and not ch.isspace()))


def tuple_items(arg: str) -> list[str] | None:
    """`(A, B{C, D},)` → ["A", "B{C,D}"]; None if `arg` is not a tuple literal.
    `(A)` is not a tuple in Julia (it is just A): None."""
    if not (arg.startswith("(") and arg.endswith(")")):
        return None
    inner = arg[1:-1]
    if inner == "":
        return []
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return None                                # `(a)(b)` and the like
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    if depth != 0:
        return None
    if cur:
        items.append(cur)
    elif not items:
        return None
    if len(items) == 1 and not inner.endswith(","):
        return None
    return items


# ----------------------------------------------------------------------------
# Julia type spellings
# ----------------------------------------------------------------------------

SYNONYMS = {
    "Cint": "Int32", "Cuint": "UInt32", "Clonglong": "Int64", "Culonglong": "UInt64",
    "Cshort": "Int16", "Cushort": "UInt16", "Cuchar": "UInt8", "Csize_t": "UInt",
    "Cssize_t": "Int", "Cfloat": "Float32", "Cdouble": "Float64", "Nothing": "Cvoid",
    "Cptrdiff_t": "Int", "Cintptr_t": "Int", "Cuintptr_t": "UInt",
}


def normalise(t: str, aliases: dict[str, str]) -> str:
    """Expands `const hubauth_x = T` aliases (hubauth_status → Int32) and
    C-named synonyms, drops `Base.`/`Core.`/`L.`/`LibHubAuth.` qualifiers:
    `Ptr{L.hubauth_auth}` → `Ptr{hubauth_auth}`, `Cint` → `Int32`."""
    t = re.sub(r"\s+", "", t)
    t = re.sub(r"\b(?:Base|Core|L|LibHubAuth|HubAuth\.LibHubAuth)\.", "", t)
    t = re.sub(r"\bRefValue\{", "Ref{", t)
    for _ in range(10):                                   # aliases of aliases
        new = re.sub(r"[A-Za-z_]\w*", lambda m: aliases.get(m.group(0), m.group(0)), t)
        if new == t:
            break
        t = new
    return re.sub(r"[A-Za-z_]\w*", lambda m: SYNONYMS.get(m.group(0), m.group(0)), t)


# ----------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------


@dataclass
class Report:
    passed: int = 0
    failed: int = 0
    ccalls: int = 0

    def __post_init__(self) -> None:
        self.messages: list[str] = []

    def ok(self) -> None:
        self.passed += 1

    def fail(self, msgs: list[str] | str) -> None:
        self.failed += 1
        self.messages.extend([msgs] if isinstance(msgs, str) else msgs)


def collect_aliases(files: dict[Path, str], header) -> dict[str, str]:
    """`const NAME = TYPE` in the Julia sources, for NAME a header typedef."""
    names = {t.name for t in header.typedefs}
    aliases: dict[str, str] = {}
    for text in files.values():
        for m in re.finditer(r"^\s*const\s+([A-Za-z_]\w*)\s*=\s*(\S[^\n#]*)$", text, re.M):
            if m.group(1) in names:
                aliases[m.group(1)] = m.group(2).strip()
    return aliases


def library_ok(spec: str, in_lib_file: bool) -> bool:
    """The library part of a ccall: `libhubauth` inside LibHubAuth.jl (its
    global); elsewhere it must be qualified (`L.libhubauth`,
    `LibHubAuth.libhubauth`): a bare `libhubauth` is undefined in HubAuth
    and in the tests."""
    if in_lib_file:
        return spec in ("libhubauth", "LibHubAuth.libhubauth")
    return spec in ("L.libhubauth", "LibHubAuth.libhubauth", "HubAuth.LibHubAuth.libhubauth")


def check_signature(header, aliases, where: str, sym: str, ret_text: str, types: list[str] | None,
                    types_text: str, nvals: int | None, errors: list[str]) -> None:
    """Return type, argument types and value count of one ccall/@ccall."""
    f = header.function(sym)
    proto = f"include/hubauth.h:{f.line}: {f.prototype()}"
    ret = normalise(ret_text, aliases)
    ok_ret = [normalise(t, {}) for t in gen.accepted_types(header, f.ret, "ret")]
    if ret not in ok_ret:
        errors.append(f"{where}: ccall to {sym} returns {ret_text}; the header returns {f.ret} → "
                      f"{' or '.join(ok_ret)}\n    {proto}")
    if types is None:
        errors.append(f"{where}: ccall to {sym}: argument types {types_text} are not a tuple literal "
                      "(a single type needs a trailing comma: (T,))")
        return
    if len(types) != len(f.params):
        errors.append(f"{where}: ccall to {sym} declares {len(types)} argument(s); the header has "
                      f"{len(f.params)}\n    {proto}")
    else:
        for k, (jt, p) in enumerate(zip(types, f.params), 1):
            ok = [normalise(t, {}) for t in gen.accepted_types(header, p.ctype, "arg", sym)]
            if normalise(jt, aliases) not in ok:
                errors.append(f"{where}: ccall to {sym}, argument {k} ({p.name}): {jt} does not match "
                              f"C `{p.ctype}` → {' or '.join(ok)}\n    {proto}")
    if nvals is not None and nvals != len(types):
        errors.append(f"{where}: ccall to {sym} declares {len(types)} argument type(s) but passes "
                      f"{nvals} value(s)")


def check_ccall(header, aliases, rel, text, mask, pos, report: Report, in_lib_file: bool) -> str | None:
    """One `ccall(...)`. Returns the C symbol when the call passed."""
    open_pos = text.index("(", pos)
    args, _ = split_call(text, mask, open_pos)
    lineno = line_of(text, pos)
    where = f"{rel}:{lineno}"
    report.ccalls += 1
    errors: list[str] = []
    parts = [strip_code(a, mask, s) for a, s in args]
    if len(parts) < 3:
        report.fail(f"{where}: ccall needs (name, library), a return type and an argument-type tuple")
        return None
    fspec = tuple_items(parts[0])
    if fspec is None or len(fspec) != 2:
        report.fail(f"{where}: ccall({parts[0]}, ...) is not ccall((:name, libhubauth), ...); "
                    "calls through pointers or computed names cannot be checked against the header")
        return None
    m = re.fullmatch(r':([A-Za-z_]\w*)|"([A-Za-z_]\w*)"', fspec[0])
    if not m:
        report.fail(f"{where}: ccall function name {fspec[0]} is not a literal :symbol")
        return None
    sym = m.group(1) or m.group(2)
    if not library_ok(fspec[1], in_lib_file):
        want = "libhubauth" if in_lib_file else "L.libhubauth (or LibHubAuth.libhubauth)"
        errors.append(f"{where}: ccall to {sym} goes to library `{fspec[1]}`, not `{want}`")
    if header.function(sym) is None:
        report.fail(errors + [f"{where}: ccall to {sym}: no such function in include/hubauth.h"])
        return None
    check_signature(header, aliases, where, sym, parts[1], tuple_items(parts[2]), parts[2],
                    len(parts) - 3, errors)
    if errors:
        report.fail(errors)
        return None
    report.ok()
    return sym


def check_at_ccall(header, aliases, rel, text, mask, pos, report: Report, in_lib_file: bool) -> str | None:
    """One `@ccall [gc_safe=true] lib.hubauth_f(v::T, ...)::R` (Julia ≥ 1.5;
    `gc_safe` ≥ 1.12). pos is the `@`."""
    where = f"{rel}:{line_of(text, pos)}"
    report.ccalls += 1
    i = pos + len("@ccall")
    m = re.compile(r"\s+(?:gc_safe\s*=\s*(?:true|false)\s+)?((?:[A-Za-z_]\w*\.)*?)([A-Za-z_]\w*)\s*\(").match(text, i)
    if not m:
        report.fail(f"{where}: @ccall must be written @ccall [gc_safe=true] L.libhubauth.hubauth_f(v::T, ...)::R "
                    "to be checked (calls through pointers or $-interpolated names cannot be)")
        return None
    lib = m.group(1)[:-1] if m.group(1) else ""
    sym = m.group(2)
    args, end = split_call(text, mask, m.end() - 1)
    errors: list[str] = []
    if not lib or not library_ok(lib, in_lib_file):
        want = "libhubauth" if in_lib_file else "L.libhubauth (or LibHubAuth.libhubauth)"
        errors.append(f"{where}: @ccall to {sym} goes to library `{lib or '(none)'}`, not `{want}`")
    rm = re.compile(r"\s*::\s*").match(text, end)
    if not rm:
        report.fail(errors + [f"{where}: @ccall to {sym} has no return type (`::R` after the call)"])
        return None
    ret_text = read_type(text, rm.end())
    if header.function(sym) is None:
        report.fail(errors + [f"{where}: @ccall to {sym}: no such function in include/hubauth.h"])
        return None
    types: list[str] = []
    for a, s in args:
        a2 = strip_code(a, mask, s)
        if not a2:
            continue
        if a2.startswith(";"):
            errors.append(f"{where}: @ccall to {sym}: varargs (`;`) are not in the header")
            continue
        k = top_level_typeassert(a2)
        if k is None:
            errors.append(f"{where}: @ccall to {sym}: argument `{a2}` has no `::Type`")
            continue
        types.append(a2[k + 2:])
    check_signature(header, aliases, where, sym, ret_text, types, "", None, errors)
    if errors:
        report.fail(errors)
        return None
    report.ok()
    return sym


def read_type(text: str, i: int) -> str:
    """The Julia type written at text[i:]: dotted names and balanced braces."""
    m = re.compile(r"[A-Za-z_][\w.]*").match(text, i)
    if not m:
        return ""
    j = m.end()
    if j < len(text) and text[j] == "{":
        depth = 0
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    j += 1
                    break
            j += 1
    return re.sub(r"\s+", "", text[i:j])


def top_level_typeassert(expr: str) -> int | None:
    """Index of the last `::` outside brackets of a whitespace-free expression."""
    depth, found = 0, None
    k = 0
    while k < len(expr) - 1:
        c = expr[k]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == '"':
            k = expr.find('"', k + 1)
            if k < 0:
                return None
        elif depth == 0 and expr.startswith("::", k) and k > 0:
            found = k
            k += 2
            continue
        k += 1
    return found


def check_cfunction(header, aliases, rel, text, mask, pos, report: Report) -> None:
    """A `@cfunction` anywhere must match some callback type of the header
    (where it is passed, check_wrapper_calls matches it to that parameter)."""
    open_pos = text.index("(", pos)
    args, _ = split_call(text, mask, open_pos)
    where = f"{rel}:{line_of(text, pos)}"
    parts = [strip_code(a, mask, s) for a, s in args]
    sig = cfunction_sig(parts, aliases)
    if sig is None:
        report.fail(f"{where}: @cfunction must be written @cfunction(f, Ret, (Args...,)) to be checked")
        return
    fnptrs = [t for t in header.typedefs if t.kind == "fnptr"]
    if any(fnptr_accepts(header, t, sig) for t in fnptrs):
        report.ok()
        return
    report.fail(f"{where}: @cfunction({parts[0]}, {parts[1]}, {parts[2]}) matches no callback type "
                f"of include/hubauth.h ({fnptr_list(header)})")


def cfunction_sig(parts: list[str], aliases) -> tuple[str, tuple[str, ...]] | None:
    types = tuple_items(parts[2]) if len(parts) == 3 else None
    if types is None:
        return None
    return normalise(parts[1], aliases), tuple(normalise(t, aliases) for t in types)


def fnptr_accepts(header, t, sig: tuple[str, tuple[str, ...]]) -> bool:
    ret, got = sig
    if ret not in [normalise(x, {}) for x in gen.accepted_types(header, t.ret, "cb_ret")]:
        return False
    if len(got) != len(t.params):
        return False
    return all(g in [normalise(x, {}) for x in gen.accepted_types(header, p.ctype, "cb_arg")]
               for g, p in zip(got, t.params))


def fnptr_list(header) -> str:
    return "; ".join(
        f"{t.name}: {gen.julia_type(header, t.ret, 'cb_ret')}, ("
        + ", ".join(gen.julia_type(header, p.ctype, "cb_arg") for p in t.params) + ")"
        for t in header.typedefs if t.kind == "fnptr") or "none declared"


# ----------------------------------------------------------------------------
# The types of the arguments given to the generated wrappers
# ----------------------------------------------------------------------------
#
# A small, conservative type inference over the hand-written code, enough to
# check every argument of every `L.hubauth_f(...)` call against the C
# parameter (G1-G3, G7 of the review). An argument's type comes from:
#
#   `x::T` (a type assertion, also in a signature or a do-block argument),
#   C_NULL, integer and Bool literals, string literals, `T(...)` for T a
#   number type, `Ptr{T}(...)`, `Ref{T}(...)`, the HUBAUTH_* constants,
#   another wrapper's result (`L.hubauth_options_new()`), `x[]` of a Ref,
#   `x.f` of a header struct (`ev.auth`) or of a Base.AsyncCondition
#   (`cond.handle`), `pointer(v)` of a Vector{UInt8}, `@cfunction(...)`,
#   `cglobal(:sym)`, a zero-argument function defined as `f() = @cfunction(...)`,
#   and a variable whose every binding in its block (by indentation) says
#   the same: annotations first, else the assignments `x = <expr>`.
#
# Anything else is "unknown", and an unknown argument is a failure: write
# the type out (`p::Ptr{L.hubauth_auth}`; Julia checks the assertion at run
# time, this checker reads it). A `Ptr{UInt8}` from a `const char *`
# (a borrowed string: hubauth_error_message, hubauth_secret_expose, the
# strings of a job event) carries the mark "borrowed": hubauth_string_free
# refuses it, and so does a function of ours that passes its argument to
# hubauth_string_free (`_take_string`).

UNKNOWN, NULL, INT, STRING = "?", "NULL", "INT", "STRING"
CAST = "CAST:"  # a pointer cast from one handle kind to another
BORROWED = "#borrowed"

# C functions outside the header that may be given as a callback (cglobal):
# name → the typedefs they fit. uv_async_send is `int (uv_async_t *)`: its
# int result is ignored by a caller that expects void, on every ABI Julia
# runs on (the pattern of the Julia manual, "Thread-safety").
KNOWN_C_CALLBACKS: dict[str, tuple[str, ...]] = {
    "uv_async_send": ("hubauth_notify_fn",),
}

# Callback types the library calls from a thread of its own (a job's notify):
# a @cfunction there would run Julia code on a foreign thread (not allowed
# before Julia 1.9, and against this binding's design: no Julia code ever runs
# on the library's threads).
NO_JULIA_CALLBACKS = ("hubauth_notify_fn",)

_NUMBER_TYPES = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Int", "UInt",
                 "Bool", "Float32", "Float64"}


def norm_jl(t: str, aliases: dict[str, str]) -> str:
    t = re.sub(r"\s+", "", t)
    t = re.sub(r"\b(?:Base|Core|L|LibHubAuth|HubAuth\.LibHubAuth|HubAuth|Threads)\.", "", t)
    t = re.sub(r"\bRefValue\{", "Ref{", t)
    return normalise(t, {k: v for k, v in aliases.items() if not v.startswith("Ptr{Cvoid}")})


@dataclass
class Scope:
    start: int      # first line (0-based) of the block
    end: int        # line after the block
    indent: int


class FileTypes:
    """What the checker can tell about the types in one Julia file."""

    def __init__(self, header, aliases, text: str, mask: list[int], cfunc_defs, consumers):
        self.header = header
        self.aliases = aliases
        self.text = text
        self.mask = mask
        self.cfunc_defs = cfunc_defs          # name → cfunction signature
        self.consumers = consumers            # function name → parameter indices it frees
        self.lines = text.split("\n")
        self.line_start = [0]
        for ln in self.lines[:-1]:
            self.line_start.append(self.line_start[-1] + len(ln) + 1)
        # code lines: (index, indent); continuation lines of a call are code too
        self.code_lines: list[tuple[int, int]] = []
        for k, ln in enumerate(self.lines):
            stripped = ln.lstrip(" ")
            if not stripped:
                continue
            pos = self.line_start[k] + len(ln) - len(stripped)
            if pos < len(mask) and mask[pos] == CODE:
                self.code_lines.append((k, len(ln) - len(stripped)))
        self.indent_of = dict(self.code_lines)
        self.depth = self._depths()
        self._cache: dict[tuple[int, str], str] = {}

    def _depths(self) -> list[int]:
        """Bracket depth at each character; self.opener[i]: where the
        innermost bracket open at i starts (-1: none)."""
        stack: list[int] = []
        out: list[int] = []
        self.opener: list[int] = []
        for k, c in enumerate(self.text):
            out.append(len(stack))
            self.opener.append(stack[-1] if stack else -1)
            if self.mask[k] == CODE:
                if c in "([{":
                    stack.append(k)
                elif c in ")]}" and stack:
                    stack.pop()
        return out

    def is_keyword_argument(self, pos: int) -> bool:
        """`name =` at pos inside the parentheses of a call: `f(a; name = 1)`."""
        o = self.opener[pos]
        if o < 0 or self.text[o] != "(":
            return False
        j = o - 1
        while j >= 0 and self.text[j] in " \t":
            j -= 1
        return j >= 0 and (self.text[j].isalnum() or self.text[j] in "_!)]}")

    # ---- blocks by indentation ------------------------------------------------
    def scopes(self, line: int) -> list[Scope]:
        """The blocks around `line`, innermost first: each starts at the
        nearest code line above with a smaller indentation and runs to the
        next code line indented no deeper than that one."""
        out: list[Scope] = []
        idx = [k for k, _ in self.code_lines]
        indent = self.indent_of.get(line, 0)
        cur = line
        while True:
            head = None
            if indent > 0:
                for k, ind in reversed(self.code_lines):
                    if k < cur and ind < indent:
                        head = (k, ind)
                        break
            if head is None:
                head = (cur, indent) if indent == 0 else (0, -1)
            k0, ind0 = head
            end = len(self.lines)
            for k, ind in self.code_lines:
                if k > k0 and ind <= ind0 and not (k <= line):
                    end = k
                    break
            out.append(Scope(k0, end, ind0))
            if ind0 <= 0:
                break
            cur, indent = k0, ind0
        del idx
        return out

    # ---- bindings ---------------------------------------------------------------
    def bindings(self, name: str, sc: Scope) -> tuple[list[str], list[tuple[str, int]]]:
        """Annotations `name::T` and assignments `name = expr` (as (expr, pos)) in the block."""
        a = self.line_start[sc.start]
        b = self.line_start[sc.end] if sc.end < len(self.lines) else len(self.text)
        annots: list[str] = []
        assigns: list[tuple[str, int]] = []
        pat = re.compile(rf"(?<![\w.:!]){re.escape(name)}(?![\w!])")
        for m in pat.finditer(self.text, a, b):
            if self.mask[m.start()] != CODE:
                continue
            j = m.end()
            while j < b and self.text[j] in " \t":
                j += 1
            if self.text.startswith("::", j):
                t = read_type(self.text, j + 2 + (len(self.text[j + 2:]) - len(self.text[j + 2:].lstrip(" "))))
                if t:
                    annots.append(t)
                continue
            if (self.text.startswith("=", j) and not self.text.startswith("==", j)
                    and not self.text.startswith("=>", j)):
                if self.is_keyword_argument(m.start()):
                    continue                       # a keyword argument, not a binding
                # the right-hand side: to the end of the statement
                e = j + 1
                d0 = self.depth[m.start()]
                while e < b and not (self.mask[e] == CODE and self.depth[e] == d0
                                     and self.text[e] in "\n;,)]}"):
                    e += 1
                assigns.append((self.text[j + 1:e], j + 1))
        return annots, assigns

    def var_type(self, name: str, line: int) -> str:
        key = (line, name)
        if key in self._cache:
            return self._cache[key]
        self._cache[key] = UNKNOWN                    # no recursion through itself
        result = UNKNOWN
        for sc in self.scopes(line):
            annots, assigns = self.bindings(name, sc)
            if annots:
                kinds = {norm_jl(t, self.aliases) for t in annots}
                result = kinds.pop() if len(kinds) == 1 else UNKNOWN
                break
            if assigns:
                kinds = {self.expr_type(strip_code(e, self.mask, p), line) for e, p in assigns}
                result = kinds.pop() if len(kinds) == 1 else UNKNOWN
                break
        self._cache[key] = result
        return result

    # ---- expressions --------------------------------------------------------------
    def expr_type(self, e: str, line: int) -> str:
        e = e.strip()
        while e.startswith("(") and e.endswith(")") and tuple_items(e) is None and _balanced(e[1:-1]):
            e = e[1:-1]
        if not e:
            return UNKNOWN
        k = top_level_typeassert(e)
        if k is not None:
            return norm_jl(e[k + 2:], self.aliases)
        if e == "C_NULL":
            return NULL
        if re.fullmatch(r"-?(?:0x[0-9a-fA-F_]+|\d[\d_]*)", e):
            return INT
        if e in ("true", "false"):
            return "Bool"
        if re.fullmatch(r'"(?:[^"\\$]|\\.)*"', e):
            return STRING
        if re.fullmatch(r"(?:(?:L|LibHubAuth|HubAuth\.LibHubAuth)\.)?HUBAUTH_\w+", e):
            return "Int32"
        m = re.fullmatch(r"(?:(?:L|LibHubAuth|HubAuth\.LibHubAuth)\.)(hubauth_\w+)\((.*)\)", e, re.S)
        if m and _balanced(m.group(2)):
            f = self.header.function(m.group(1))
            if f is None:
                return UNKNOWN
            t = gen.julia_type(self.header, f.ret, "ret")
            if f.ret.ptr == 1 and f.ret.base == "char" and f.ret.const:
                t += BORROWED
            return norm_jl(t.replace(BORROWED, ""), self.aliases) + (BORROWED if BORROWED in t else "")
        m = re.fullmatch(r"cglobal\((?::(\w+)|\(:(\w+),[\w.]+\))\)", e)
        if m:
            return "CGLOBAL:" + (m.group(1) or m.group(2))
        m = re.fullmatch(r"@cfunction(\(.*\))", e, re.S)
        if m and _balanced(m.group(1)[1:-1]):
            parts = [x for x in _split_top(m.group(1)[1:-1])]
            sig = cfunction_sig(parts, self.aliases)
            return UNKNOWN if sig is None else "CFUNC:" + sig[0] + ":" + ",".join(sig[1])
        m = re.fullmatch(r"([A-Za-z_]\w*)\(\)", e)
        if m and m.group(1) in self.cfunc_defs:
            sig = self.cfunc_defs[m.group(1)]
            return "CFUNC:" + sig[0] + ":" + ",".join(sig[1])
        m = re.fullmatch(r"((?:Ptr|Ref|Base\.RefValue)\{.*\})\((.*)\)", e, re.S)
        if m and _balanced(m.group(1)) and _balanced(m.group(2)):
            to = norm_jl(m.group(1), self.aliases)
            # Ptr{hubauth_secret}(p) of a p known to be another handle kind
            # would launder the kind past this check (an auth freed as a
            # secret): refuse it. A cast from an integer or an untyped
            # pointer (`Ptr{T}(UInt)`) is how handles are made; it stays.
            if to.startswith("Ptr{hubauth_") and "," not in m.group(2):
                inner = self.expr_type(m.group(2), line).removesuffix(BORROWED)
                if inner.startswith("Ptr{hubauth_") and inner != to:
                    return f"{CAST}{inner}->{to}"
            return to
        m = re.fullmatch(r"([A-Za-z_][\w.]*)\((.*)\)", e, re.S)
        if m and _balanced(m.group(2)):
            name = norm_jl(m.group(1), self.aliases)
            if name in _NUMBER_TYPES or name == "String":
                return name
            if m.group(1) == "pointer":
                inner = self.expr_type(m.group(2), line)
                if inner in ("Vector{UInt8}", "Array{UInt8,1}", "String"):
                    return "Ptr{UInt8}"
            return UNKNOWN
        m = re.fullmatch(r"(.+)\[\]", e, re.S)
        if m and _balanced(m.group(1)):
            inner = self.expr_type(m.group(1), line)
            r = re.fullmatch(r"Ref\{(.*)\}", inner)
            return norm_jl(r.group(1), self.aliases) if r else UNKNOWN
        m = re.fullmatch(r"(.+)\.([A-Za-z_]\w*)", e, re.S)
        if m and _balanced(m.group(1)):
            inner = self.expr_type(m.group(1), line)
            if inner == "AsyncCondition" and m.group(2) == "handle":
                return "Ptr{Cvoid}"
            t = self.header.typedef(inner)
            if t is not None and t.kind == "struct":
                for fl in t.fields:
                    if gen.julia_ident(fl.name) == m.group(2):
                        jt = norm_jl(gen.julia_type(self.header, fl.ctype, "field"), self.aliases)
                        if fl.ctype.ptr == 1 and fl.ctype.base == "char" and fl.ctype.const:
                            jt += BORROWED
                        return jt
            return UNKNOWN
        if re.fullmatch(r"[A-Za-z_]\w*", e):
            return self.var_type(e, line)
        return UNKNOWN


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return parts


def arg_problem(header, f, p, t: str, aliases) -> str | None:
    """Why the inferred Julia type `t` cannot be passed for parameter `p` of
    `f`, or None when it can."""
    ct = p.ctype
    td = header.typedef(ct.base)
    borrowed = t.endswith(BORROWED)
    t0 = t[: -len(BORROWED)] if borrowed else t
    if t0 == UNKNOWN:
        return "its type cannot be told here; write it out (`x::T`)"
    if t0.startswith(CAST):
        frm, to = t0[len(CAST):].split("->", 1)
        return f"a cast from {frm} to {to}: a handle of one kind passed as another"
    if td is not None and td.kind == "fnptr" and ct.ptr == 0:
        if t0 == NULL:
            return None
        if t0.startswith("CFUNC:") and td.name in NO_JULIA_CALLBACKS:
            return (f"a @cfunction given as {td.name} would run Julia code on the library's thread; "
                    "pass cglobal(:uv_async_send) with a Base.AsyncCondition's handle")
        if t0.startswith("CFUNC:"):
            _, ret, args = t0.split(":", 2)
            sig = (ret, tuple(a for a in args.split(",") if a))
            if fnptr_accepts(header, td, sig):
                return None
            return (f"@cfunction with ({ret}; {', '.join(sig[1])}) is not a `{td.signature()}` ({td.name})")
        if t0.startswith("CGLOBAL:"):
            sym = t0.split(":", 1)[1]
            g = header.function(sym)
            if g is not None:
                if str(g.ret) == str(td.ret) and [str(q.ctype) for q in g.params] == \
                        [str(q.ctype) for q in td.params]:
                    return None
                return f"cglobal(:{sym}) is `{g.prototype()}`, not a `{td.signature()}` ({td.name})"
            if td.name in KNOWN_C_CALLBACKS.get(sym, ()):
                return None
            return f"cglobal(:{sym}) is not known to fit {td.name} (KNOWN_C_CALLBACKS in check_ccalls.py)"
        return f"{t0} is not a callback of type {td.name}: pass @cfunction(...), cglobal(...) or C_NULL"
    canon = norm_jl(gen.julia_type(header, ct, "arg"), aliases)
    if ct.ptr == 0:
        if t0 == canon or (t0 == INT and canon in _NUMBER_TYPES - {"Bool", "Float32", "Float64"}):
            return None
        return f"{t0} is not {canon} (C `{ct}`)"
    if t0 == NULL:
        return None
    if ct.ptr == 1 and ct.base == "char":
        if ct.const:
            if t0 in ("Cstring", "String", "AbstractString", STRING, "Ptr{UInt8}"):
                return None
            return f"{t0} is not a string (C `{ct}` → Cstring: a String, or a Ptr{{UInt8}} C gave us)"
        if f.name.endswith("_free"):
            if t0 == "Ptr{UInt8}":
                return ("it is a borrowed string (from a `const char *`): freeing it is a double free"
                        if borrowed else None)
            return f"{t0} is not an owned `char *` (Ptr{{UInt8}} that hubauth returned)"
        if t0 in ("Ptr{UInt8}", "Vector{UInt8}", "Array{UInt8,1}"):
            return None
        return (f"{t0} cannot be an output buffer (C `{ct}`): pass a Vector{{UInt8}} or Ptr{{UInt8}}; "
                "a Cstring or String is read-only and scanned for NUL")
    if canon == "Ptr{Cvoid}":                          # void *: any pointer
        if t0.startswith("Ptr{") or t0.startswith("Ref{"):
            return None
        return f"{t0} is not a pointer (C `{ct}`)"
    inner = canon[4:-1]
    if t0 in (canon, f"Ref{{{inner}}}"):
        return None
    if inner in ("UInt8",) and t0 in ("Vector{UInt8}",):
        return None
    return f"{t0} is not {canon} (C `{ct}`)"


_WRAPPER_CALL = re.compile(r"(?<![\w.])(?:L|LibHubAuth|HubAuth\.LibHubAuth)\.(hubauth_\w+)")


def collect_cfunc_defs(files: dict[Path, str], aliases) -> dict[str, tuple[str, tuple[str, ...]]]:
    """`name() = @cfunction(f, R, (A,))`: a call `name()` is that callback."""
    out = {}
    for text in files.values():
        for m in re.finditer(r"^([A-Za-z_]\w*)\(\)\s*=\s*@cfunction(\([^\n]*\))\s*$", text, re.M):
            if _balanced(m.group(2)[1:-1]):
                sig = cfunction_sig([re.sub(r"\s+", "", x) for x in _split_top(m.group(2)[1:-1])], aliases)
                if sig is not None:
                    out[m.group(1)] = sig
    return out


def collect_consumers(files: dict[Path, str]) -> dict[str, set[int]]:
    """Functions of ours that pass a `Ptr{UInt8}` parameter to hubauth_string_free:
    name → the indices of those parameters."""
    out: dict[str, set[int]] = {}
    pat = re.compile(r"^function\s+([A-Za-z_]\w*)\(([^)\n]*)\)\n(.*?)^end", re.M | re.S)
    for text in files.values():
        for m in pat.finditer(text):
            params = [re.split(r"::|=", x)[0].strip() for x in m.group(2).split(";")[0].split(",")]
            for k, name in enumerate(params):
                if name and re.search(rf"(?:L|LibHubAuth)\.hubauth_string_free\(\s*{re.escape(name)}\s*\)",
                                      m.group(3)):
                    out.setdefault(m.group(1), set()).add(k)
    return out


def check_wrapper_calls(header, aliases, rel, text, mask, report: Report, cfunc_defs=None,
                        consumers=None, blocking: frozenset[str] = frozenset()) -> None:
    """Every `L.hubauth_f(args...)` outside the generated file: a header (or
    pending) function, called with its number of arguments, each of a type
    that fits its C parameter, and none of `blocking`."""
    types = FileTypes(header, aliases, text, mask, cfunc_defs or {}, consumers or {})
    for m in _WRAPPER_CALL.finditer(text):
        if mask[m.start()] != CODE or not at_paren(text, m.end()):
            continue
        name = m.group(1)
        where = f"{rel}:{line_of(text, m.start())}"
        if name in blocking:   # and its arguments are checked all the same
            report.fail(f"{where}: {name} blocks the calling thread while it waits on the network "
                        "or a lock (and with it Julia's GC): run it as a job")
        args, _ = split_call(text, mask, text.index("(", m.end()))
        given = [(strip_code(a, mask, s), s) for a, s in args if a.strip()]
        n = len(given)
        under_check = bool(re.search(r"@check\s*$", text[:m.start()]))
        if under_check:
            n += 1                                      # @check supplies `err`
        td = header.typedef(name)
        if td is not None and td.kind == "struct":
            continue                                    # L.hubauth_job_event(): the generated constructor
        f = header.function(name)
        if f is not None:
            want = len(f.params)
            pending = PENDING_ABI.get(name)
            if pending is not None and pending != want:
                report.fail(f"{where}: PENDING_ABI says {name} takes {pending} argument(s); "
                            f"include/hubauth.h:{f.line} says {want}: {f.prototype()}")
                continue
        elif name in PENDING_ABI:
            want = PENDING_ABI[name]
        else:
            report.fail(f"{where}: {name}(...) calls no function of include/hubauth.h "
                        "(nor of PENDING_ABI in check_ccalls.py)")
            continue
        if n != want:
            report.fail(f"{where}: {name} is called with {n} argument(s) (err included under @check); "
                        f"it takes {want}")
            continue
        if f is None:
            report.ok()
            continue
        line = text.count("\n", 0, m.start())
        problems = []
        for k, ((a, _), p) in enumerate(zip(given, f.params), 1):
            t = types.expr_type(a, line)
            why = arg_problem(header, f, p, t, aliases)
            if why is not None:
                problems.append(f"{where}: {name}, argument {k} ({p.name}) `{a}`: {why}\n"
                                f"    include/hubauth.h:{f.line}: {f.prototype()}")
        if problems:
            report.fail(problems)
        else:
            report.ok()
    # our functions that free their argument: no borrowed string may reach them
    for fname, idxs in (consumers or {}).items():
        for m in re.finditer(rf"(?<![\w.]){re.escape(fname)}\(", text):
            if mask[m.start()] != CODE:
                continue
            if re.match(r"function\s+$", text[max(0, m.start() - 9):m.start()]):
                continue
            args, _ = split_call(text, mask, m.end() - 1)
            line = text.count("\n", 0, m.start())
            for k in idxs:
                if k < len(args):
                    a = strip_code(args[k][0], mask, args[k][1])
                    if "::" in a and top_level_typeassert(a) is not None and a.split("::")[0].isidentifier():
                        continue                        # a signature: `_take_string(p::Ptr{UInt8})`
                    if types.expr_type(a, line).endswith(BORROWED):
                        report.fail(f"{rel}:{line + 1}: {fname}(`{a}`) frees a borrowed string "
                                    "(from a `const char *`) with hubauth_string_free")


def run(root: Path) -> Report:
    report = Report()
    header_path = root / gen.HEADER_REL
    try:
        header = gen.parse_header(header_path.read_text(encoding="utf-8"), str(gen.HEADER_REL))
    except (gen.HeaderError, OSError) as e:
        report.fail(f"cannot read the header: {e}")
        return report
    files = {}
    for d in SCAN_RELS:
        files.update({p: p.read_text(encoding="utf-8") for p in sorted((root / d).rglob("*.jl"))})
    if not any(p.is_relative_to(root / SRC_REL) for p in files):
        report.fail(f"no .jl files under {SRC_REL}")
        return report
    aliases = collect_aliases(files, header)
    blocking = blocking_functions(header_path.read_text(encoding="utf-8"))
    if not blocking - BLOCKING_WITHOUT_KIND:
        report.fail(f"{gen.HEADER_REL}: no `Job kind: `hubauth_f`` doc comment found")
    cfunc_defs = collect_cfunc_defs(files, aliases)
    consumers = collect_consumers(files)
    lib_syms: set[str] = set()
    lib_funcs: set[str] = set()
    lib_consts: dict[str, str] = {}
    for path, text in files.items():
        rel = path.relative_to(root)
        in_lib = path.name == LIB_FILE
        try:
            mask = code_mask(text)
        except JuliaLexError as e:
            report.fail(f"{rel}: cannot lex: {e}")
            continue
        for m in re.finditer(r"(@?)(?<![\w.!])(ccall|cfunction)\b", text):
            if mask[m.start(2)] != CODE:
                continue
            if not at_paren(text, m.end()) and not (m.group(1) and m.group(2) == "ccall"):
                continue
            at, word = m.group(1), m.group(2)
            try:
                if word == "ccall" and at:
                    sym = check_at_ccall(header, aliases, rel, text, mask, m.start(), report, in_lib)
                    if in_lib and sym:
                        lib_syms.add(sym)
                elif word == "ccall":
                    sym = check_ccall(header, aliases, rel, text, mask, m.start(2), report, in_lib)
                    if in_lib and sym:
                        lib_syms.add(sym)
                elif word == "cfunction" and at:
                    check_cfunction(header, aliases, rel, text, mask, m.start(2), report)
            except JuliaLexError as e:
                report.fail(f"{rel}:{line_of(text, m.start())}: cannot parse the call: {e}")
        if not in_lib:
            try:
                in_binding = path.is_relative_to(root / SRC_REL)
                check_wrapper_calls(header, aliases, rel, text, mask, report, cfunc_defs, consumers,
                                    blocking if in_binding else frozenset())
            except JuliaLexError as e:
                report.fail(f"{rel}: cannot parse a wrapper call: {e}")
        else:
            for fm in re.finditer(r"^function\s+([A-Za-z_]\w*)\s*\(", text, re.M):
                lib_funcs.add(fm.group(1))
            for cm in re.finditer(r"^const\s+(HUBAUTH_\w+)\s*=\s*(.+)$", text, re.M):
                lib_consts[cm.group(1)] = cm.group(2).strip()

    lib_rel = SRC_REL / LIB_FILE
    # (b) every header function has a wrapper
    for f in header.functions:
        if f.name in lib_funcs and f.name in lib_syms:
            report.ok()
        else:
            report.fail(f"{lib_rel}: no wrapper `function {f.name}(...)` with a matching ccall for "
                        f"include/hubauth.h:{f.line}: {f.prototype()}")
    for d in header.defines:
        got = lib_consts.get(d.name)
        if got is not None and re.fullmatch(rf"(?:Int32\()?\s*{d.value}\s*\)?", got):
            report.ok()
        else:
            report.fail(f"{lib_rel}: constant {d.name} should be {d.value} "
                        f"(include/hubauth.h:{d.line}), found {got or 'nothing'}")
    # (a) drift
    lib_path = root / SRC_REL / LIB_FILE
    expected = gen.render(header)
    current = lib_path.read_text(encoding="utf-8") if lib_path.exists() else ""
    if current == expected:
        report.ok()
    else:
        a, b = current.splitlines(), expected.splitlines()
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        report.fail(f"{lib_rel}: differs from what gen/generate.py makes of include/hubauth.h "
                    f"(first difference at line {k + 1}); run python3 bindings/julia/gen/generate.py")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check the Julia binding's ccalls against include/hubauth.h.")
    ap.add_argument("--root", type=Path, default=gen.REPO_ROOT, help="repository root (default: this checkout)")
    args = ap.parse_args(argv)
    report = run(args.root)
    for msg in report.messages:
        print(f"FAIL {msg}")
    if report.failed == 0:
        print(f"julia binding: {report.ccalls} ccalls match include/hubauth.h")
    else:
        print(f"julia binding: {report.failed} check(s) failed against include/hubauth.h")
    print(f"{report.passed} passed, {report.failed} failed")
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
