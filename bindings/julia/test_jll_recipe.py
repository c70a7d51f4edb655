"""Static checks of the HubAuth_jll recipe and of the binding's loader.

Julia and BinaryBuilder cannot run on this project's machines, so this only
reads the files: the recipe (jll/build_tarballs.jl) must name the product
and build with Rust, and LibHubAuth.find_library (generated from
gen/generate.py) must try HubAuth_jll, then ENV["HUBAUTH_LIB"], then the
repository's build, in that order.

    python3 -m unittest discover -s bindings/julia -p 'test_*.py'
"""

from __future__ import annotations

import re
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECIPE = HERE / "jll" / "build_tarballs.jl"
LIB = HERE / "HubAuth" / "src" / "LibHubAuth.jl"


def _code(text: str) -> str:
    """Julia text without # comments (no string holds a '#' where it matters here)."""
    return "\n".join(re.sub(r"(^|\s)#.*$", "", ln) for ln in text.splitlines())


def _function(text: str, name: str) -> str:
    m = re.search(rf"^function {name}\(\)\n(.*?)^end$", text, re.M | re.S)
    assert m, f"no function {name}() in {LIB.name}"
    return m.group(1)


class RecipeTest(unittest.TestCase):
    def setUp(self) -> None:
        self.text = RECIPE.read_text(encoding="utf-8")
        self.code = _code(self.text)

    def test_yggdrasil_shape(self) -> None:
        self.assertIn("using BinaryBuilder", self.code)
        self.assertRegex(self.code, r'(?m)^name = "HubAuth"$', "the JLL is HubAuth_jll")
        self.assertRegex(self.code, r"GitSource\(\s*\"[^\"]+\.git\",\s*\"[0-9a-f]{40}\"\)")
        self.assertRegex(self.code, r"build_tarballs\(ARGS, name, version, sources, script, platforms, products, dependencies")

    def test_names_the_product(self) -> None:
        self.assertRegex(self.code, r'LibraryProduct\("libhubauth", :libhubauth\)')

    def test_builds_with_rust_and_c(self) -> None:
        self.assertRegex(self.code, r"compilers = \[:c, :rust\]")
        self.assertIn("cargo build --release --lib --locked", self.code)
        self.assertIn("${rust_target}", self.code)

    def test_platforms_are_filtered_to_rust(self) -> None:
        self.assertRegex(self.code, r"platforms = supported_platforms\(\)")
        self.assertGreaterEqual(len(re.findall(r"filter!\(", self.code)), 1)

    def test_version_is_the_crates(self) -> None:
        cargo = (HERE.parent.parent / "Cargo.toml").read_text(encoding="utf-8")
        crate = re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
        self.assertRegex(self.code, rf'(?m)^version = v"{re.escape(crate)}"$')

    def test_installs_the_files_the_product_and_c_users_need(self) -> None:
        self.assertIn('"${libdir}/libhubauth.${dlext}"', self.code)
        self.assertIn('HUBAUTH_VERSION=$(version)', self.code)
        self.assertIn("include/hubauth.h", self.code)
        self.assertIn("install_license", self.code)


class LoaderTest(unittest.TestCase):
    def setUp(self) -> None:
        self.text = LIB.read_text(encoding="utf-8")
        self.find = _code(_function(self.text, "find_library"))

    def test_three_sources_in_order(self) -> None:
        positions = [
            self.find.find("jll_library()"),
            self.find.find('ENV, "HUBAUTH_LIB"'),
            self.find.find('"target"'),
        ]
        self.assertTrue(all(p >= 0 for p in positions), positions)
        self.assertEqual(positions, sorted(positions), "HubAuth_jll, then HUBAUTH_LIB, then target/")

    def test_the_jll_is_optional(self) -> None:
        jll = _code(_function(self.text, "jll_library"))
        self.assertIn('Base.identify_package("HubAuth_jll")', jll)
        self.assertRegex(jll, r"pkg === nothing && return nothing")
        self.assertIn("libhubauth_path", jll)  # what JLLWrappers defines for LibraryProduct(..., :libhubauth)
        self.assertIn("catch", jll)
        project = (HERE / "HubAuth" / "Project.toml").read_text(encoding="utf-8")
        deps = project.split("[deps]", 1)[1].split("\n[", 1)[0]
        self.assertNotIn("HubAuth_jll", deps, "a hard dependency would break checkouts without it")

    def test_init_uses_find_library(self) -> None:
        self.assertRegex(self.text, r"function __init__\(\)\n\s+global libhubauth = find_library\(\)")


if __name__ == "__main__":
    unittest.main()
