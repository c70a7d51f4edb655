"""Static checks of the HubAuth_jll recipe and of the binding's loader.

Julia and BinaryBuilder cannot run on this project's machines, so this only
reads the files: the recipe (jll/build_tarballs.jl) must name the product,
build only the cdylib with Rust, leave out musl and install the repository's
LICENSE; HubAuth must depend on HubAuth_jll (with the UUID BinaryBuilder
gives it), and LibHubAuth.find_library (generated from gen/generate.py) must
try ENV["HUBAUTH_LIB"] (the development override), then HubAuth_jll, then
the repository's build, in that order.

    python3 -m unittest discover -s bindings/julia -p 'test_*.py'
"""

from __future__ import annotations

import hashlib
import re
import unittest
import uuid
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


def jll_uuid(name: str) -> str:
    """BinaryBuilder's UUID of `<name>_jll` (AutoBuild.jl: jll_uuid, which
    hashes "<name>_jll_jll" with bb_specific_uuid5: little-endian bytes)."""
    namespace = uuid.UUID("cfb74b52-ec16-5bb7-a574-95d9e393895e")   # BinaryBuilder's uuid_package
    digest = hashlib.sha1(namespace.int.to_bytes(16, "little") + f"{name}_jll_jll".encode()).digest()
    u = int.from_bytes(digest[:16], "little")
    u &= 0xffffffffffff0fff3fffffffffffffff
    u |= 0x00000000000050008000000000000000
    return str(uuid.UUID(int=u))


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
        self.assertIn("cargo rustc --release --lib --crate-type cdylib --locked", self.code)
        self.assertIn("${rust_target}", self.code)

    def test_platforms_are_filtered_to_rust(self) -> None:
        self.assertRegex(self.code, r"platforms = supported_platforms\(\)")
        self.assertGreaterEqual(len(re.findall(r"filter!\(", self.code)), 1)

    def test_no_musl(self) -> None:
        # rustc drops the cdylib crate type on *-linux-musl (crt-static).
        self.assertRegex(self.code, r'filter!\(p -> libc\(p\) != "musl", platforms\)')

    def test_the_license_it_installs_exists(self) -> None:
        self.assertIn("install_license LICENSE", self.code)
        lic = (HERE.parent.parent / "LICENSE").read_text(encoding="utf-8")
        self.assertTrue(lic.startswith("MIT License"))
        self.assertIn("Copyright (c) 2026 the hubauth authors", lic)

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
            self.find.find('ENV, "HUBAUTH_LIB"'),
            self.find.find("jll_library()"),
            self.find.find('"target"'),
        ]
        self.assertTrue(all(p >= 0 for p in positions), positions)
        self.assertEqual(positions, sorted(positions), "HUBAUTH_LIB, then HubAuth_jll, then target/")

    def test_the_jll_is_a_dependency(self) -> None:
        self.assertRegex(self.text, r"(?m)^import HubAuth_jll$")
        jll = _code(_function(self.text, "jll_library"))
        self.assertIn("HubAuth_jll.libhubauth_path", jll)  # JLLWrappers' name for LibraryProduct(..., :libhubauth)
        self.assertIn("HubAuth_jll.is_available()", jll)
        self.assertNotIn("Base.require", self.text, "no package loaded by name from __init__")
        project = (HERE / "HubAuth" / "Project.toml").read_text(encoding="utf-8")
        deps = project.split("[deps]", 1)[1].split("\n[", 1)[0]
        m = re.search(r'(?m)^HubAuth_jll = "([0-9a-f-]{36})"$', deps)
        self.assertIsNotNone(m, "HubAuth_jll in [deps]")
        self.assertEqual(m.group(1), jll_uuid("HubAuth"))
        compat = project.split("[compat]", 1)[1].split("\n[", 1)[0]
        self.assertRegex(compat, r'(?m)^HubAuth_jll = "')

    def test_jll_uuid_is_binarybuilders(self) -> None:
        # Known JLLs of the General registry.
        self.assertEqual(jll_uuid("OpenSSL"), "458c3c95-2e84-50aa-8efc-19380b2a3a95")
        self.assertEqual(jll_uuid("Zlib"), "83775a58-1f1d-513f-b197-d71354ab007a")

    def test_init_uses_find_library(self) -> None:
        self.assertRegex(self.text, r"function __init__\(\)\n\s+global libhubauth = find_library\(\)")


if __name__ == "__main__":
    unittest.main()
