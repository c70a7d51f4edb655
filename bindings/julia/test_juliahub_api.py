"""HubAuth is a drop-in for JuliaHub.jl's authentication API: every row of
juliahub_api.tsv (written from JuliaHub.jl's source) has its equivalent in
bindings/julia/HubAuth/src, found by parsing the Julia code (no Julia needed).

    python3 -m unittest discover -s bindings/julia -p 'test_juliahub_api.py'
"""

from __future__ import annotations

import importlib.util
import re
import sys
import unittest
from dataclasses import dataclass
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
SRC = HERE / "HubAuth" / "src"
TABLE = HERE / "juliahub_api.tsv"

_spec = importlib.util.spec_from_file_location("hubauth_check_ccalls_api", HERE / "check_ccalls.py")
check = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = check
_spec.loader.exec_module(check)


@dataclass
class Method:
    name: str
    required: list[str]      # positional parameters without a default
    optional: list[str]      # positional parameters with a default
    keywords: list[str]      # keyword names (`kwargs...` as "kwargs...")
    line: str


def _params(text: str) -> tuple[list[str], list[str]]:
    """`a::T, b = 1; c, d...` → (positional, keyword) parameter texts."""
    depth, cur, parts, semi = 0, "", [], None
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if depth == 0 and ch in ",;":
            parts.append(cur.strip())
            cur = ""
            if ch == ";":
                semi = len(parts)
            continue
        cur += ch
    if cur.strip():
        parts.append(cur.strip())
    if semi is None:
        return parts, []
    return parts[:semi], parts[semi:]


def _split_default(p: str) -> tuple[str, bool]:
    depth = 0
    for i, ch in enumerate(p):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=" and depth == 0 and p[i - 1] not in "=!<>:" and p[i + 1:i + 2] != "=":
            return p[:i].strip(), True
    return p.strip(), False


def parse_methods(files: dict[Path, str]) -> list[Method]:
    """Method definitions, long (`function f(...)`) and short (`f(...) =`), at
    the start of a line, in code (not comments or strings)."""
    out: list[Method] = []
    pat = re.compile(r"^(?:function\s+)?((?:Base\.)?[A-Za-z_][\w!]*)\s*\(", re.M)
    for path, text in files.items():
        mask = check.code_mask(text)
        for m in pat.finditer(text):
            if mask[m.start()] != check.CODE:
                continue
            is_long = text[m.start():m.start(1)].startswith("function")
            args, end = check.split_call(text, mask, m.end() - 1)
            if not is_long:
                rest = text[end:end + 200]
                if not re.match(r"\s*(?:where\s+\{[^}]*\}\s*)?(?:::\s*\S+\s*)?=(?!=)", rest):
                    continue
            inner = text[m.end():end - 1]
            pos, kws = _params(inner)
            required, optional = [], []
            for p in [p for p in pos if p]:
                p, has_default = _split_default(p)
                (optional if has_default else required).append(p)
            keywords = []
            for k in kws:
                k, _ = _split_default(k)
                keywords.append("kwargs..." if k.endswith("...") else re.split(r"::", k)[0].strip())
            out.append(Method(m.group(1), required, optional, keywords,
                              f"{path.name}:{check.line_of(text, m.start())}"))
    return out


def _type_of(p: str) -> str:
    return re.sub(r"\s+", "", p.split("::", 1)[1]) if "::" in p else "Any"


def _accepts(ours: str, theirs: str) -> bool:
    """Our parameter type admits JuliaHub.jl's (by spelling: equal, Any, or a
    Union listing every member of theirs)."""
    if ours in ("Any", theirs):
        return True
    members = lambda t: set(re.sub(r"^Union\{(.*)\}$", r"\1", t).split(","))
    return members(theirs) <= members(ours) if ours.startswith("Union{") else False


class TheTable(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.files = {p: p.read_text(encoding="utf-8") for p in sorted(SRC.glob("*.jl"))
                     if p.name != "LibHubAuth.jl"}
        cls.code = "\n".join(cls.files.values())
        cls.methods = parse_methods(cls.files)
        m = re.search(r"^export\s+((?:[^\n]*,\s*\n)*[^\n]*)$", cls.files[SRC / "HubAuth.jl"], re.M)
        cls.exports = set(re.findall(r"[A-Za-z_][\w!]*", m.group(1)))
        cls.rows = []
        for line in TABLE.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                cols = line.split("\t")
                cls.rows.append((cols + [""] * 6)[:6])

    def methods_named(self, name: str) -> list[Method]:
        return [m for m in self.methods if m.name in (name, f"Base.{name}")]

    def test_the_table_is_there(self) -> None:
        kinds = {r[0] for r in self.rows}
        self.assertEqual(kinds, {"function", "type", "property", "field", "constructor", "show"})
        self.assertGreaterEqual(len(self.rows), 20)

    def test_every_function(self) -> None:
        for kind, name, positional, keywords, _, source in self.rows:
            if kind != "function":
                continue
            with self.subTest(name=name, positional=positional, source=source):
                if name != "String":
                    self.assertIn(name, self.exports, f"HubAuth does not export {name}")
                theirs_opt = positional.startswith("[")
                theirs = [p for p in _params(positional.strip("[]"))[0] if p]
                kws = [k for k in keywords.split(",") if k]
                ok = []
                for m in self.methods_named(name):
                    n = len(theirs)
                    if not (len(m.required) <= n <= len(m.required) + len(m.optional)):
                        continue
                    if theirs_opt and len(m.required) > 0:
                        continue
                    params = m.required + m.optional
                    if not all(_accepts(_type_of(o), _type_of(t)) for o, t in zip(params, theirs)):
                        continue
                    if not all(k in m.keywords for k in kws):
                        continue
                    ok.append(m)
                self.assertTrue(ok, f"no HubAuth method {name}({positional}; {keywords}) "
                                    f"among {[(m.line, m.required + m.optional, m.keywords) for m in self.methods_named(name)]}")

    def test_every_type(self) -> None:
        for kind, name, *_ in self.rows:
            if kind == "type":
                with self.subTest(name=name):
                    self.assertRegex(self.code, rf"(?m)^(?:mutable\s+)?struct\s+{name}\b|^abstract\s+type\s+{name}\b")
                    self.assertIn(name, self.exports)

    def test_every_property_and_field(self) -> None:
        for kind, dotted, *_ in self.rows:
            if kind not in ("property", "field"):
                continue
            typ, prop = dotted.split(".")
            with self.subTest(name=dotted):
                m = re.search(rf"function Base\.propertynames\(::{typ}[^\n]*\n(?:[^\n]*\n){{0,3}}?[^\n]*public = \(([^)]*)\)",
                              self.code) or re.search(rf"Base\.propertynames\(::{typ}[^)]*\)\s*=\s*\(([^)]*)\)", self.code)
                self.assertIsNotNone(m, f"no propertynames for {typ}")
                self.assertIn(f":{prop}", m.group(1))
                struct = re.search(rf"(?ms)^(?:mutable\s+)?struct\s+{typ}\b.*?^end", self.code).group(0)
                getprop = re.search(rf"(?ms)^function Base\.getproperty\(\w+::{typ},.*?^end", self.code)
                self.assertTrue(re.search(rf"(?m)^\s+{prop}::", struct)
                                or (getprop and f":{prop}" in getprop.group(0)),
                                f"{typ} has neither a field nor a computed property {prop}")

    def test_every_constructor(self) -> None:
        for kind, name, positional, *_ in self.rows:
            if kind != "constructor":
                continue
            with self.subTest(name=name, positional=positional):
                theirs = _type_of(positional)
                found = [m for m in self.methods_named(name)
                         if len(m.required) == 1 and _accepts(_type_of(m.required[0]), theirs)]
                self.assertTrue(found, f"no constructor {name}(::{theirs})")

    def test_every_show(self) -> None:
        for kind, name, *_ in self.rows:
            if kind == "show":
                with self.subTest(name=name):
                    self.assertRegex(self.code, rf"Base\.show\(io::IO,\s*\w*::{name}\)")


class TheParser(unittest.TestCase):
    def test_long_and_short_forms(self) -> None:
        text = ("function f(a::Int, b = 2; c::Bool = true, kw...)\nend\n"
                "g(x) = x\n# h(y) = y\nh2 = (1)\n")
        ms = parse_methods({Path("x.jl"): text})
        self.assertEqual([(m.name, m.required, m.optional, m.keywords) for m in ms],
                         [("f", ["a::Int"], ["b"], ["c", "kwargs..."]), ("g", ["x"], [], [])])
        ms = parse_methods({Path("x.jl"): "r!(; kwargs...) = 1\n"})
        self.assertEqual((ms[0].required, ms[0].keywords), ([], ["kwargs..."]))

    def test_a_missing_keyword_is_caught(self) -> None:
        ms = parse_methods({Path("x.jl"): "authenticate(server = nothing; force = nothing) = 1\n"})
        self.assertNotIn("hook", ms[0].keywords)


if __name__ == "__main__":
    unittest.main()
