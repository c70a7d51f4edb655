#!/usr/bin/env python3
"""Checks the Julia binding against include/hubauth.h, without Julia.

    python3 bindings/julia/check_ccalls.py [--root REPO]

Reads the header (with the generator's parser) and every .jl file under
bindings/julia/HubAuth/src, and fails (exit 1) unless:

  * every `ccall((:sym, libhubauth), Ret, (Args...,), vals...)` names a
    function declared in the header, goes to `libhubauth`, and has the
    header's return type, number of arguments and argument types (by the type
    map in gen/generate.py), and passes as many values as it declares types;
  * every `@cfunction(f, Ret, (Args...,))` matches a function-pointer typedef
    of the header (hubauth_hook_fn);
  * no call hides from this check (`@ccall`, `ccall(pointer, ...)`, argument
    types that are not a tuple literal);
  * every header function has a wrapper in LibHubAuth.jl, every
    `#define HUBAUTH_*` a constant there with the same value;
  * LibHubAuth.jl is byte for byte what gen/generate.py makes of the header now;
  * every call of a generated wrapper outside LibHubAuth.jl (`L.hubauth_f(...)`,
    `LibHubAuth.hubauth_f(...)`) names a header function and passes as many
    arguments as it has (one fewer under `@check`, which supplies `err`), or
    names a function of PENDING_ABI (C functions being added to the header in
    parallel; the binding uses them only when the library exports them) with
    the arity written there. Once the header declares a pending function, the
    header decides, and a PENDING_ABI entry that disagrees with it fails.

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
LIB_FILE = "LibHubAuth.jl"


# C functions the binding calls before include/hubauth.h declares them:
# name → number of parameters (DESIGN.md, "Added in the second round").
PENDING_ABI: dict[str, int] = {}  # none: the cancel functions are in the header now


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
    """Expands `const hubauth_x = T` aliases and C-named synonyms, drops
    `Base.`/`Core.`/`LibHubAuth.` qualifiers: `Ptr{hubauth_auth}` → `Ptr{Cvoid}`."""
    t = re.sub(r"\s+", "", t)
    t = re.sub(r"\b(?:Base|Core|LibHubAuth|HubAuth\.LibHubAuth)\.", "", t)
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


def check_ccall(header, aliases, rel, text, mask, pos, report: Report) -> None:
    open_pos = text.index("(", pos)
    args, _ = split_call(text, mask, open_pos)
    lineno = line_of(text, pos)
    where = f"{rel}:{lineno}"
    report.ccalls += 1
    errors: list[str] = []
    parts = [strip_code(a, mask, s) for a, s in args]
    if len(parts) < 3:
        report.fail(f"{where}: ccall needs (name, library), a return type and an argument-type tuple")
        return
    fspec = tuple_items(parts[0])
    if fspec is None or len(fspec) != 2:
        report.fail(f"{where}: ccall({parts[0]}, ...) is not ccall((:name, libhubauth), ...); "
                    "calls through pointers or computed names cannot be checked against the header")
        return
    m = re.fullmatch(r':([A-Za-z_]\w*)|"([A-Za-z_]\w*)"', fspec[0])
    if not m:
        report.fail(f"{where}: ccall function name {fspec[0]} is not a literal :symbol")
        return
    sym = m.group(1) or m.group(2)
    if re.sub(r"^(?:LibHubAuth\.)", "", fspec[1]) != "libhubauth":
        errors.append(f"{where}: ccall to {sym} goes to library `{fspec[1]}`, not `libhubauth`")
    f = header.function(sym)
    if f is None:
        report.fail(errors + [f"{where}: ccall to {sym}: no such function in include/hubauth.h"])
        return
    proto = f"include/hubauth.h:{f.line}: {f.prototype()}"
    ret = normalise(parts[1], aliases)
    ok_ret = [normalise(t, {}) for t in gen.accepted_types(header, f.ret, "ret")]
    if ret not in ok_ret:
        errors.append(f"{where}: ccall to {sym} returns {parts[1]}; the header returns {f.ret} → "
                      f"{' or '.join(ok_ret)}\n    {proto}")
    types = tuple_items(parts[2])
    if types is None:
        errors.append(f"{where}: ccall to {sym}: argument types {parts[2]} are not a tuple literal "
                      "(a single type needs a trailing comma: (T,))")
    else:
        if len(types) != len(f.params):
            errors.append(f"{where}: ccall to {sym} declares {len(types)} argument(s); the header has "
                          f"{len(f.params)}\n    {proto}")
        else:
            for k, (jt, p) in enumerate(zip(types, f.params), 1):
                ok = [normalise(t, {}) for t in gen.accepted_types(header, p.ctype, "arg")]
                if normalise(jt, aliases) not in ok:
                    errors.append(f"{where}: ccall to {sym}, argument {k} ({p.name}): {jt} does not match "
                                  f"C `{p.ctype}` → {' or '.join(ok)}\n    {proto}")
        nvals = len(parts) - 3
        if nvals != len(types):
            errors.append(f"{where}: ccall to {sym} declares {len(types)} argument type(s) but passes "
                          f"{nvals} value(s)")
    if errors:
        report.fail(errors)
    else:
        report.ok()


def check_cfunction(header, aliases, rel, text, mask, pos, report: Report) -> None:
    open_pos = text.index("(", pos)
    args, _ = split_call(text, mask, open_pos)
    where = f"{rel}:{line_of(text, pos)}"
    parts = [strip_code(a, mask, s) for a, s in args]
    fnptrs = [t for t in header.typedefs if t.kind == "fnptr"]
    types = tuple_items(parts[2]) if len(parts) == 3 else None
    if types is None:
        report.fail(f"{where}: @cfunction must be written @cfunction(f, Ret, (Args...,)) to be checked")
        return
    ret = normalise(parts[1], aliases)
    got = [normalise(t, aliases) for t in types]
    for t in fnptrs:
        if ret not in [normalise(x, {}) for x in gen.accepted_types(header, t.ret, "cb_ret")]:
            continue
        if len(got) != len(t.params):
            continue
        if all(g in [normalise(x, {}) for x in gen.accepted_types(header, p.ctype, "cb_arg")]
               for g, p in zip(got, t.params)):
            report.ok()
            return
    want = "; ".join(
        f"{t.name}: {gen.julia_type(header, t.ret, 'cb_ret')}, ("
        + ", ".join(gen.julia_type(header, p.ctype, "cb_arg") for p in t.params) + ")"
        for t in fnptrs) or "none declared"
    report.fail(f"{where}: @cfunction({parts[0]}, {parts[1]}, {parts[2]}) matches no callback type "
                f"of include/hubauth.h ({want})")


_WRAPPER_CALL = re.compile(r"(?<![\w.])(?:L|LibHubAuth|HubAuth\.LibHubAuth)\.(hubauth_\w+)")


def check_wrapper_calls(header, rel, text, mask, report: Report) -> None:
    """Every `L.hubauth_f(args...)` outside the generated file: a header (or
    pending) function, called with its number of arguments."""
    for m in _WRAPPER_CALL.finditer(text):
        if mask[m.start()] != CODE or not at_paren(text, m.end()):
            continue
        name = m.group(1)
        where = f"{rel}:{line_of(text, m.start())}"
        args, _ = split_call(text, mask, text.index("(", m.end()))
        given = [a for a, _ in args if a.strip()]
        n = len(given)
        if re.search(r"@check\s*$", text[:m.start()]):
            n += 1                                      # @check supplies `err`
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
        if n == want:
            report.ok()
        else:
            report.fail(f"{where}: {name} is called with {n} argument(s) (err included under @check); "
                        f"it takes {want}")


def run(root: Path) -> Report:
    report = Report()
    header_path = root / gen.HEADER_REL
    src = root / SRC_REL
    try:
        header = gen.parse_header(header_path.read_text(encoding="utf-8"), str(gen.HEADER_REL))
    except (gen.HeaderError, OSError) as e:
        report.fail(f"cannot read the header: {e}")
        return report
    files = {p: p.read_text(encoding="utf-8") for p in sorted(src.rglob("*.jl"))}
    if not files:
        report.fail(f"no .jl files under {SRC_REL}")
        return report
    aliases = collect_aliases(files, header)
    lib_syms: set[str] = set()
    lib_funcs: set[str] = set()
    lib_consts: dict[str, str] = {}
    for path, text in files.items():
        rel = path.relative_to(root)
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
                    report.fail(f"{rel}:{line_of(text, m.start())}: @ccall is not checked against the "
                                "header; write ccall((:name, libhubauth), Ret, (Args...,), args...)")
                elif word == "ccall":
                    before = report.ccalls, report.failed
                    check_ccall(header, aliases, rel, text, mask, m.start(2), report)
                    if path.name == LIB_FILE and report.failed == before[1]:
                        sym = re.search(r":(\w+)", text[m.end():]).group(1)
                        lib_syms.add(sym)
                elif word == "cfunction" and at:
                    check_cfunction(header, aliases, rel, text, mask, m.start(2), report)
            except JuliaLexError as e:
                report.fail(f"{rel}:{line_of(text, m.start())}: cannot parse the call: {e}")
        if path.name != LIB_FILE:
            try:
                check_wrapper_calls(header, rel, text, mask, report)
            except JuliaLexError as e:
                report.fail(f"{rel}: cannot parse a wrapper call: {e}")
        if path.name == LIB_FILE:
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
    lib_path = src / LIB_FILE
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
