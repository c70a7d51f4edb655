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


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")
def test_pip_install_into_a_venv(tmp_path, auto_server):
    # Build from a copy, so the source tree gets no build/ or *.egg-info.
    src = tmp_path / "src"
    shutil.copytree(PYTHON_DIR, src, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", "build", "*.egg-info", ".pytest_cache", "*.so"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    r = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    token_path = tmp_path / "auth.toml"
    token_path.write_text(auto_server.issue())
    three_lines = (
        "import hubauth\n"
        f"auth = hubauth.authenticate({auto_server.url!r}, token_path={str(token_path)!r}, interactive=False)\n"
        "print(auth.username, len(auth.token), hubauth.__file__, hubauth.library_path)\n"
    )
    env = dict(os.environ, HUBAUTH_LIB=str(LIB))
    env.pop("PYTHONPATH", None)
    r = subprocess.run([str(python), "-c", three_lines], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    user, length, module, library = r.stdout.split()
    assert user == "alice" and int(length) > 0
    assert module.startswith(str(venv)), "imported the installed copy"
    assert library == str(LIB)
    # A library shipped inside the installed package is found without HUBAUTH_LIB.
    shipped = Path(module).parent / "libhubauth.so"
    os.symlink(LIB, shipped)
    env.pop("HUBAUTH_LIB")
    r = subprocess.run([str(python), "-c", "import hubauth; print(hubauth.library_path)"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(shipped)
