"""Builds the hubauth wheel with libhubauth and the `hubauth` command inside it.

pyproject.toml holds the metadata; this file only adds one build step and
the wheel's platform tag. Why a setuptools step rather than setuptools-rust
or maturin: those build a Rust *extension module* for one CPython ABI; this
package is pure ctypes over the C ABI of one cdylib (abi3-free, py3-none),
so all it needs is cargo and a copy of the .so, with no build
dependency beyond setuptools (and cargo-zigbuild for a manylinux build).

The wheel holds hubauth/libhubauth.so and hubauth/bin/hubauth (the CLI, run
by the `hubauth` console script, _hubauth_cli.py), both stripped. Where they
come from (first that applies):

  HUBAUTH_BUILD_LIB=/path/libhubauth.so   built already (packagers, tests)
  HUBAUTH_BUILD_CLI=/path/hubauth
  the hubauth checkout two levels up       `cargo rustc --release -p hubauth --lib --crate-type cdylib`
                                           and `cargo build --release --bin hubauth` there
                                           (HUBAUTH_REPO_ROOT overrides the checkout,
                                           HUBAUTH_CARGO_PROFILE=debug a quick build,
                                           CARGO_TARGET_DIR is honoured)
  the files in hubauth/ of this directory  shipped as they are

HUBAUTH_TARGET_GLIBC=2.17 builds both against glibc 2.17 with cargo-zigbuild
(pip fetches it and zig, pinned in packaging/requirements.txt, into its
isolated build environment) and tags the wheel manylinux_2_17 (manylinux2014),
which installs on RHEL 7/8, Ubuntu 20.04 and most clusters; without it the
wheel is built for this machine's glibc and tagged linux_<arch>.
packaging/check_wheel.sh builds that wheel and proves the tag with auditwheel.

There is no sdist: the package is the Rust library, which lives at the
repository root, outside this directory. `python -m build --sdist` says how
to build a wheel instead.

An editable install (`pip install -e`) builds nothing: the package then
loads the checkout's target/ build.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

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
CLI_NAME = "hubauth.exe" if sys.platform == "win32" else "hubauth"
# Where the wheel keeps the CLI; _hubauth_cli.py runs it from there.
CLI_IN_PACKAGE = Path("hubauth") / "bin" / CLI_NAME


def _zigbuild_requires() -> list[str]:
    """What a HUBAUTH_TARGET_GLIBC build needs, pinned in
    packaging/requirements.txt: cargo-zigbuild, and zig itself as a wheel
    (setup_requires: pip installs them into its isolated build environment)."""
    pins = (HERE / "packaging" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in pins if line.startswith(("cargo-zigbuild==", "ziglang=="))]


def _target_glibc() -> tuple[int, int] | None:
    """HUBAUTH_TARGET_GLIBC=2.17: the oldest glibc the build must run on."""
    value = os.environ.get("HUBAUTH_TARGET_GLIBC")
    if not value:
        return None
    match = re.fullmatch(r"2\.(\d+)", value)
    if not match or not sys.platform.startswith("linux"):
        raise SystemExit(f"HUBAUTH_TARGET_GLIBC={value}: expected 2.<minor> (e.g. 2.17), on Linux")
    return 2, int(match.group(1))


def _find_checkout() -> Path | None:
    root = Path(os.environ.get("HUBAUTH_REPO_ROOT") or HERE.parent.parent)
    cargo = root / "Cargo.toml"
    if cargo.is_file() and 'name = "hubauth"' in cargo.read_text(encoding="utf-8"):
        return root
    return None


def _cargo_build(root: Path) -> Path:
    """Builds the library and the CLI in the checkout; returns cargo's output
    directory holding both."""
    cargo = os.environ.get("CARGO", "cargo")
    if shutil.which(cargo) is None:
        raise SystemExit(
            "building the hubauth wheel needs cargo (https://rustup.rs), "
            f"or HUBAUTH_BUILD_LIB=/path/to/{LIB_NAME} and HUBAUTH_BUILD_CLI=/path/to/{CLI_NAME}"
        )
    profile = os.environ.get("HUBAUTH_CARGO_PROFILE", "release")
    common = ["--locked"] + (["--profile", profile] if profile != "debug" else [])
    # The library is the cdylib alone: built with the rlib, every public Rust
    # item stays exported and the library is ~0.8 MiB larger (BENCHMARKS.md).
    # `--bin hubauth` finds the CLI in whichever workspace package holds it.
    lib = [cargo, "rustc"] + common + ["-p", "hubauth", "--lib", "--crate-type", "cdylib"]
    cli = [cargo, "build"] + common + ["--bin", "hubauth"]
    triple = None
    glibc = _target_glibc()
    if glibc is not None:
        if shutil.which("cargo-zigbuild") is None:
            raise SystemExit(
                "HUBAUTH_TARGET_GLIBC needs cargo-zigbuild, which links against that glibc: "
                f"pip install {' '.join(_zigbuild_requires())} (pip's isolated build does that itself)"
            )
        triple = f"{platform.machine()}-unknown-linux-gnu"
        target = ["--target", f"{triple}.{glibc[0]}.{glibc[1]}"]
        lib = ["cargo-zigbuild", "rustc"] + lib[2:] + target
        cli = [cargo, "zigbuild"] + cli[2:] + target
    for command in (lib, cli):
        print("hubauth: " + " ".join(command) + f"  (in {root})", flush=True)
        subprocess.run(command, cwd=root, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or root / "target")
    if not target.is_absolute():
        target = root / target
    if triple is not None:
        target = target / triple
    return target / profile


def _artifacts() -> tuple[Path, Path]:
    """The library and the CLI to bundle."""
    prebuilt_lib = os.environ.get("HUBAUTH_BUILD_LIB")
    prebuilt_cli = os.environ.get("HUBAUTH_BUILD_CLI")
    if prebuilt_lib or prebuilt_cli:
        if not (prebuilt_lib and prebuilt_cli):
            raise SystemExit("HUBAUTH_BUILD_LIB and HUBAUTH_BUILD_CLI go together: set both")
        for var, path in (("HUBAUTH_BUILD_LIB", prebuilt_lib), ("HUBAUTH_BUILD_CLI", prebuilt_cli)):
            if not Path(path).is_file():
                raise SystemExit(f"{var}={path}: no such file")
        return Path(prebuilt_lib), Path(prebuilt_cli)
    root = _find_checkout()
    if root is not None:
        out = _cargo_build(root)
        return out / LIB_NAME, out / CLI_NAME
    shipped = HERE / "hubauth" / LIB_NAME, HERE / CLI_IN_PACKAGE
    if all(p.is_file() for p in shipped):
        return shipped
    raise SystemExit(
        f"hubauth: nothing to bundle: not in a hubauth checkout (no {HERE.parent.parent}/Cargo.toml), "
        f"no HUBAUTH_BUILD_LIB/HUBAUTH_BUILD_CLI, no hubauth/{LIB_NAME} and {CLI_IN_PACKAGE}. "
        "Install a wheel, or from a clone of the repository: pip install ./bindings/python (needs cargo)"
    )


def _bundle(src: Path, dest: Path) -> None:
    """Copies a built file into the package, stripped of its symbol table
    (the dynamic symbols, the C ABI, stay)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    shutil.copyfile(src, dest)  # the file itself, never a link
    os.chmod(dest, 0o755)
    strip = os.environ.get("STRIP", "strip")
    if sys.platform.startswith("linux") and shutil.which(strip):
        subprocess.run([strip, str(dest)], check=True)
        print(f"hubauth: bundled {src} as {dest} (stripped)", flush=True)
    else:
        print(f"hubauth: bundled {src} as {dest} (not stripped: no `{strip}`)", flush=True)


class BuildPyWithNativeFiles(build_py):
    """build_py, then copies libhubauth and the CLI into the built package."""

    def run(self) -> None:
        # An in-tree build reuses build/lib: clear the package first, or a
        # module deleted from the source would still be shipped.
        shutil.rmtree(Path(self.build_lib) / "hubauth", ignore_errors=True)
        super().run()
        if getattr(self, "editable_mode", False):
            return
        lib, cli = _artifacts()
        _bundle(lib, Path(self.build_lib) / "hubauth" / LIB_NAME)
        _bundle(cli, Path(self.build_lib) / CLI_IN_PACKAGE)


class BinaryDistribution(Distribution):
    """Holds a native library: built into the platform-specific build dir and
    installed into platlib, and the wheel is not pure (Root-Is-Purelib: false)."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    """A platform wheel (it holds a native library) for any Python 3:
    py3-none-<platform>, since ctypes needs no CPython ABI. Built against an
    old glibc (HUBAUTH_TARGET_GLIBC), the platform is manylinux_2_<minor>,
    with its legacy alias for 2.17 (manylinux2014), which older pips need."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        glibc = _target_glibc()
        if glibc is not None:
            arch = platform.machine()
            plat = f"manylinux_{glibc[0]}_{glibc[1]}_{arch}"
            if glibc == (2, 17):
                plat += f".manylinux2014_{arch}"
        return "py3", "none", plat


class NoSdist(sdist):
    """The package is the Rust library at the repository root, outside this
    directory: an sdist of this directory could not build it."""

    def run(self) -> None:
        raise SystemExit(
            "hubauth has no sdist: the package bundles the Rust library built at the "
            "repository root. Build a wheel from a clone instead: "
            "`pip wheel --no-deps ./bindings/python` (needs cargo; "
            "HUBAUTH_TARGET_GLIBC=2.17 with cargo-zigbuild for a manylinux2014 wheel), "
            "or `python -m build --wheel bindings/python`."
        )


setup(distclass=BinaryDistribution,
      cmdclass={"build_py": BuildPyWithNativeFiles, "bdist_wheel": PlatformWheel, "sdist": NoSdist},
      setup_requires=_zigbuild_requires() if _target_glibc() is not None else [])
