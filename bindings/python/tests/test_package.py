"""Packaging: versions agree, the library is found as documented, and
`pip install bindings/python` gives a working package."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hubauth
from hubauth import _lib
from conftest import LIB, PYTHON_DIR, REPO


def test_versions_agree():
    cargo = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M)
    pyproject = re.search(r'^version\s*=\s*"([^"]+)"', (PYTHON_DIR / "pyproject.toml").read_text(), re.M)
    assert hubauth.__version__ == pyproject.group(1) == cargo.group(1)
    assert hubauth.library_version() == hubauth.__version__


def test_every_status_code_of_the_header_is_exported():
    # Read from the checked-in header itself, not from _signatures.
    header = (REPO / "include" / "hubauth.h").read_text()
    codes = dict(
        (name, int(value))
        for name, value in re.findall(r"^#define (HUBAUTH_(?:OK|ERR_[A-Z_]+)) (\d+)", header, re.M)
    )
    assert "HUBAUTH_ERR_BUFFER_TOO_SMALL" in codes, codes
    for name, value in codes.items():
        assert getattr(hubauth, name) == value, name
        assert name in hubauth.__all__, name
    missing = [name for name in hubauth.__all__ if not hasattr(hubauth, name)]
    assert missing == []


def test_core_package_imports_no_http_library():
    code = "import sys, hubauth; assert 'httpx' not in sys.modules and 'requests' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30,
                   env=dict(os.environ, PYTHONPATH=str(PYTHON_DIR)))


def test_library_search_order(tmp_path):
    pkg = tmp_path / "bindings" / "python" / "hubauth"
    assert _lib.candidate_paths({"HUBAUTH_LIB": "/x/libhubauth.so"}, pkg) == ["/x/libhubauth.so"]
    paths = _lib.candidate_paths({}, pkg)
    assert paths == [
        str(pkg / "libhubauth.so"),
        str(tmp_path / "target" / "release" / "libhubauth.so"),
        str(tmp_path / "target" / "debug" / "libhubauth.so"),
    ]


def test_library_not_found_lists_what_was_tried(tmp_path):
    with pytest.raises(hubauth.LibraryNotFoundError) as info:
        _lib.load_library({"HUBAUTH_LIB": str(tmp_path / "nope.so")}, tmp_path)
    assert str(tmp_path / "nope.so") in str(info.value) and "HUBAUTH_LIB" in str(info.value)
    assert isinstance(info.value, OSError)
    pkg = tmp_path / "a" / "b" / "hubauth"
    with pytest.raises(hubauth.LibraryNotFoundError) as info:
        _lib.load_library({}, pkg)
    message = str(info.value)
    for p in _lib.candidate_paths({}, pkg):
        assert p in message
    assert "cargo build" in message


def test_library_in_the_repo_is_found_without_hubauth_lib(tmp_path):
    pkg = tmp_path / "bindings" / "python" / "hubauth"
    (tmp_path / "target" / "debug").mkdir(parents=True)
    os.symlink(LIB, tmp_path / "target" / "debug" / "libhubauth.so")
    _, path = _lib.load_library({}, pkg)
    assert path == str(tmp_path / "target" / "debug" / "libhubauth.so")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built once from a copy of bindings/python (the source tree
    gets no build/ or *.egg-info) by pip as a user would, with cargo running
    in this checkout (the debug profile: already built, so quick)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(PYTHON_DIR, src, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", "build", "*.egg-info", ".pytest_cache", "*.so"))
    env = dict(os.environ, HUBAUTH_REPO_ROOT=str(REPO), HUBAUTH_CARGO_PROFILE="debug")
    env.pop("HUBAUTH_LIB", None)
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
         "-w", str(tmp / "dist"), str(src)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (built,) = (tmp / "dist").glob("hubauth-*.whl")
    return built


def test_the_wheel_is_platform_specific_and_bundles_the_library(wheel):
    import zipfile

    name, version, py, abi, plat = wheel.stem.split("-")
    assert (name, version) == ("hubauth", hubauth.__version__)
    assert (py, abi) == ("py3", "none") and plat != "any", wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        dist_info = f"hubauth-{version}.dist-info"
        wheel_meta = z.read(f"{dist_info}/WHEEL").decode()
        metadata = z.read(f"{dist_info}/METADATA").decode()
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
        license_text = z.read(f"{dist_info}/licenses/LICENSE")
        cli_mode = z.getinfo("hubauth/bin/hubauth").external_attr >> 16
    assert "hubauth/libhubauth.so" in names and "hubauth/_signatures.py" in names
    assert not any(n.endswith(".h") for n in names), "an installed wheel needs no header"
    assert "Root-Is-Purelib: false" in wheel_meta
    assert cli_mode & 0o111, f"the CLI is stored without its exec bits ({cli_mode:o})"
    assert "hubauth = _hubauth_cli:main" in entry_points.splitlines()
    assert "License-Expression: MIT" in metadata.splitlines()
    assert license_text == (REPO / "LICENSE").read_bytes()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")
def test_wheel_in_a_fresh_venv(wheel, tmp_path_factory, auto_server):
    """pip install <wheel> into a venv outside the repository; from there, with
    no cargo on PATH and no HUBAUTH_LIB, import, print the version, set
    options and log in (device flow, auto-approved) against the test server;
    then the `hubauth` command of the venv lists that login."""
    tmp = tmp_path_factory.mktemp("venv-test")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    r = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
         str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    env = {k: v for k, v in os.environ.items()
           if k not in ("HUBAUTH_LIB", "PYTHONPATH", "CARGO_TARGET_DIR", "JULIA_PKG_SERVER")}
    env.update(PATH=f"{venv / 'bin'}:/usr/bin:/bin", HOME=str(tmp / "home"),
               JULIA_DEPOT_PATH=str(tmp / "depot"))
    script = (
        "import hubauth, pathlib\n"
        "print(hubauth.__version__, hubauth.library_version())\n"
        "print(hubauth.__file__)\n"
        "print(hubauth.library_path)\n"
        "try:\n"
        "    hubauth.authenticate('https://x.invalid', no_such_option=1)\n"
        "except hubauth.InvalidArgumentError as e:\n"
        "    print('refused', e.code)\n"
        f"auth = hubauth.authenticate({auto_server.url!r}, hook=lambda url: True, timeout=60)\n"
        "print(auth.username, len(auth.token) > 0)\n"
    )
    r = subprocess.run([str(python), "-c", script], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{hubauth.__version__} {hubauth.__version__}"
    assert lines[1].startswith(str(venv)), "imported the installed copy"
    assert lines[2] == str(Path(lines[1]).parent / "libhubauth.so"), "loaded the bundled library"
    assert lines[3] == "refused 2"
    assert lines[4] == "alice True"
    # The wheel's `hubauth` command is the bundled CLI (through the console
    # script) and sees what Python stored: one store, one library.
    cli = str(venv / "bin" / "hubauth")
    r = subprocess.run([cli, "--version"], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, f"hubauth {hubauth.__version__}\n"), r.stderr
    r = subprocess.run([cli, "status", "--server", auto_server.url], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert auto_server.url in r.stdout and "alice" in r.stdout, r.stdout
    r = subprocess.run([cli, "no-such-command"], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no-such-command" in r.stderr, (r.returncode, r.stderr)
    # HUBAUTH_LIB still overrides the bundled library.
    env["HUBAUTH_LIB"] = str(LIB)
    r = subprocess.run([str(python), "-c", "import hubauth; print(hubauth.library_path)"],
                       cwd=tmp, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(LIB)
