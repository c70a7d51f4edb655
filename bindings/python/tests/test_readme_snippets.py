"""The README's Python and C snippets, run as written against the JuliaHub
test server with a stored token, so the README cannot go stale."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug"


def snippet(language: str) -> str:
    readme = (REPO / "README.md").read_text()
    match = re.search(
        rf"<!-- snippet:{language} -->\n```{language}\n(.*?)\n```", readme, re.DOTALL
    )
    assert match, f"README.md has no <!-- snippet:{language} --> block"
    return match.group(1)


def stored_token_env(server, tmp_path) -> dict:
    """JULIA_PKG_SERVER and a depot holding a token the server issued."""
    depot = tmp_path / "readme-depot"
    auth_toml = depot / "servers" / server.url.split("//")[1].replace(":", "_") / "auth.toml"
    auth_toml.parent.mkdir(parents=True)
    auth_toml.write_text(server.issue(ttl_s=3600))
    env = dict(os.environ)
    env.update(JULIA_PKG_SERVER=server.url, JULIA_DEPOT_PATH=str(depot))
    return env


def test_python_snippet(server, tmp_path):
    env = stored_token_env(server, tmp_path)
    env["PYTHONPATH"] = str(REPO / "bindings" / "python")
    run = subprocess.run(
        [sys.executable, "-c", snippet("python")], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("alice "), run.stdout
    assert "Secret('*****')" in run.stdout


def test_c_snippet(server, tmp_path):
    source = tmp_path / "app.c"
    source.write_text(snippet("c"))
    app = tmp_path / "app"
    # The library's SONAME is libhubauth.so.0: lay it out as an install does.
    libdir = tmp_path / "lib"
    libdir.mkdir()
    for name in ("libhubauth.so", "libhubauth.so.0"):
        (libdir / name).symlink_to(TARGET / "libhubauth.so")
    subprocess.run(
        ["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{REPO / 'include'}",
         str(source), f"-L{libdir}", "-lhubauth", "-o", str(app)],
        check=True,
    )
    env = stored_token_env(server, tmp_path)
    env["LD_LIBRARY_PATH"] = str(libdir)
    run = subprocess.run([str(app)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"alice has a \d+-byte token\n", run.stdout), run.stdout
