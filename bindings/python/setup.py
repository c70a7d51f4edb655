"""Builds the hubauth wheel with libhubauth inside it.

pyproject.toml holds the metadata; this file only adds one build step and
the wheel's platform tag. Why a setuptools step rather than setuptools-rust
or maturin: those build a Rust *extension module* for one CPython ABI; this
package is pure ctypes over the C ABI of one cdylib (abi3-free, py3-none),
so all it needs is cargo and a copy of the .so, with no build
dependency beyond setuptools.

Where the library comes from (first that applies):

  HUBAUTH_BUILD_LIB=/path/libhubauth.so   a library built already (packagers, tests)
  the hubauth checkout two levels up       `cargo rustc --release --lib --crate-type cdylib` there
                                           (HUBAUTH_REPO_ROOT overrides the checkout,
                                           HUBAUTH_CARGO_PROFILE=debug a quick build,
                                           CARGO_TARGET_DIR is honoured)
  hubauth/libhubauth.so in this directory  shipped as it is

An editable install (`pip install -e`) builds nothing: the package then
loads the checkout's target/ build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:  # setuptools >= 70.1 has its own; older ones use the wheel package's
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent

if sys.platform == "darwin":
    LIB_NAME = "libhubauth.dylib"
elif sys.platform == "win32":
    LIB_NAME = "hubauth.dll"
else:
    LIB_NAME = "libhubauth.so"


def _find_checkout() -> Path | None:
    root = Path(os.environ.get("HUBAUTH_REPO_ROOT") or HERE.parent.parent)
    cargo = root / "Cargo.toml"
    if cargo.is_file() and 'name = "hubauth"' in cargo.read_text(encoding="utf-8"):
        return root
    return None


def _library() -> Path:
    prebuilt = os.environ.get("HUBAUTH_BUILD_LIB")
    if prebuilt:
        if not Path(prebuilt).is_file():
            raise SystemExit(f"HUBAUTH_BUILD_LIB={prebuilt}: no such file")
        return Path(prebuilt)
    root = _find_checkout()
    if root is not None:
        if shutil.which(os.environ.get("CARGO", "cargo")) is None:
            raise SystemExit(
                "building the hubauth wheel needs cargo (https://rustup.rs), "
                "or HUBAUTH_BUILD_LIB=/path/to/" + LIB_NAME
            )
        profile = os.environ.get("HUBAUTH_CARGO_PROFILE", "release")
        # The cdylib alone: built with the rlib, every public Rust item stays
        # exported and the library is ~0.8 MiB larger (BENCHMARKS.md).
        cargo = os.environ.get("CARGO", "cargo")
        cmd = [cargo, "rustc", "--lib", "--crate-type", "cdylib", "--locked"]
        if profile != "debug":
            cmd += ["--profile", profile]
        print("hubauth: " + " ".join(cmd) + f"  (in {root})", flush=True)
        subprocess.run(cmd, cwd=root, check=True)
        target = Path(os.environ.get("CARGO_TARGET_DIR") or root / "target")
        if not target.is_absolute():
            target = root / target
        return target / profile / LIB_NAME
    shipped = HERE / "hubauth" / LIB_NAME
    if shipped.is_file():
        return shipped
    raise SystemExit(
        f"hubauth: no library to bundle: not in a hubauth checkout (no {HERE.parent.parent}/Cargo.toml), "
        f"no HUBAUTH_BUILD_LIB, no hubauth/{LIB_NAME}"
    )


class BuildPyWithLibrary(build_py):
    """build_py, then copies libhubauth into the built package."""

    def run(self) -> None:
        # An in-tree build reuses build/lib: clear the package first, or a
        # module deleted from the source would still be shipped.
        shutil.rmtree(Path(self.build_lib) / "hubauth", ignore_errors=True)
        super().run()
        if getattr(self, "editable_mode", False):
            return
        lib = _library()
        dest = Path(self.build_lib) / "hubauth" / LIB_NAME
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() or dest.is_symlink():
            dest.unlink()
        shutil.copyfile(lib, dest)  # the file itself, never a link
        os.chmod(dest, 0o755)
        print(f"hubauth: bundled {lib} as {dest}", flush=True)


class BinaryDistribution(Distribution):
    """Holds a native library: built into the platform-specific build dir and
    installed into platlib, and the wheel is not pure (Root-Is-Purelib: false)."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    """A platform wheel (it holds a native library) for any Python 3:
    py3-none-<platform>, since ctypes needs no CPython ABI."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(distclass=BinaryDistribution,
      cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel})
