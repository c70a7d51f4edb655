"""The real SDKs read what hubauth wrote, and hubauth reads what they wrote.

Runs in target/sdk-venv (tests/sdk_compat/setup.sh) with dagshub 0.7.3,
digitalhub 0.15.11 and caveclient 8.2.1. Only the modules that read and write
the token files are imported, without their packages' __init__ (which pulls
in the whole SDK, pandas and all): see `bare`. No network: hubauth is the CLI
(target/debug/hubauth) with validate=false, and the SDKs' file functions
make no requests.
"""

from __future__ import annotations

import configparser
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
HUBAUTH = Path(os.environ.get("HUBAUTH_CLI") or TARGET / "debug" / "hubauth")


def bare(package: str) -> None:
    """Registers `package` and its parents as empty packages on their real
    directories, so their submodules import without running the packages'
    __init__.py."""
    parts = package.split(".")
    top = sys.modules.get(parts[0])
    path = top.__path__[0] if top else importlib.util.find_spec(parts[0]).submodule_search_locations[0]
    for i, part in enumerate(parts):
        name = ".".join(parts[: i + 1])
        if i:
            path = os.path.join(path, part)
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = [path]
            sys.modules[name] = module


# caveclient.base imports numpy and pandas at the top for a JSON encoder the
# auth code never uses; empty stand-ins keep 80 MB out of the venv.
for heavy in ("numpy", "pandas"):
    if importlib.util.find_spec(heavy) is None:
        sys.modules[heavy] = types.ModuleType(heavy)
bare("dagshub")
sys.modules["dagshub"].__version__ = "0.7.3"
bare("caveclient")
bare("digitalhub.stores.client")
bare("digitalhub.utils")

from caveclient import auth as cave_auth  # noqa: E402
from caveclient import datastack_lookup  # noqa: E402
from dagshub.auth.tokens import TokenStorage  # noqa: E402
from digitalhub.stores.client.auth import file_module  # noqa: E402
from digitalhub.stores.client.common import config as dh_config  # noqa: E402

CAVE_TOKEN = "0123456789abcdef0123456789abcdef"
CAVE_OTHER = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in list(os.environ):
        if name.startswith(("DHCORE_", "DAGSHUB_", "DH_")) or name == "OAUTH2_TOKEN_ENDPOINT":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUBAUTH_LOG", "off")
    return home


def hubauth(*args: str, stdin: str = "") -> str:
    run = subprocess.run(
        [str(HUBAUTH), *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, f"hubauth {args[0]}: {run.stderr}"
    return run.stdout


# --- CAVE ---------------------------------------------------------------


def secrets(home: Path) -> Path:
    return home / ".cloudvolume" / "secrets"


def test_cave_second_save_and_logout_keep_what_caveclient_reads(home):
    server = "https://minnie.example"
    cave = ["--provider", "cave", "--server", server, "-o", "validate=false"]
    hubauth("save-token", *cave, stdin=CAVE_TOKEN)
    # caveclient finds it for this server and, through cave-secret.json,
    # for any other (CloudVolume reads that file too).
    assert cave_auth.AuthClient(server_address=server).token == CAVE_TOKEN
    assert cave_auth.AuthClient(server_address="https://other.example").token == CAVE_TOKEN

    # A second save changes the server's own file only, as caveclient's does.
    hubauth("save-token", *cave, stdin=CAVE_OTHER)
    assert cave_auth.AuthClient(server_address=server).token == CAVE_OTHER
    assert cave_auth.AuthClient(server_address="https://other.example").token == CAVE_TOKEN
    real = cave_auth.AuthClient(server_address=server)
    real.save_token(CAVE_OTHER, overwrite=True)
    default = json.loads((secrets(home) / "cave-secret.json").read_text())
    assert default == {"token": CAVE_TOKEN}, "caveclient leaves it alone as well"

    # Logout of one server: the shared file stays for the others.
    hubauth("logout", "--provider", "cave", "--server", server)
    assert cave_auth.AuthClient(server_address="https://other.example").token == CAVE_TOKEN
    assert cave_auth.AuthClient(server_address=server).token is None


def test_cave_first_save_for_another_server_keeps_the_shared_token(home):
    # The default server's token, in the file every server without its own
    # (and CloudVolume) reads.
    secrets(home).mkdir(parents=True)
    (secrets(home) / "cave-secret.json").write_text(json.dumps({"token": CAVE_OTHER}))
    server = "https://minnie.example"
    hubauth("save-token", "--provider", "cave", "--server", server, "-o", "validate=false",
            stdin=CAVE_TOKEN)
    assert cave_auth.AuthClient(server_address=server).token == CAVE_TOKEN
    # caveclient's own save_token (overwrite=False) would refuse to replace it.
    assert cave_auth.AuthClient(server_address="https://global.daf-apis.com").token == CAVE_OTHER
    assert cave_auth.AuthClient(server_address="https://other.example").token == CAVE_OTHER


def test_cave_unmapped_datastack_is_globals_as_for_caveclient(home):
    assert datastack_lookup.handle_server_address("unmapped_stack", None) is None
    cave_auth.AuthClient(server_address="https://global.daf-apis.com").save_token(CAVE_TOKEN)
    out = hubauth("token", "--provider", "cave", "--profile", "unmapped_stack",
                  "-o", "validate=false")
    assert out.strip() == CAVE_TOKEN


def test_cave_reads_what_caveclient_saved(home):
    server = "https://minnie.example"
    real = cave_auth.AuthClient(server_address=server)
    real.save_token(CAVE_TOKEN, write_to_server_file=True)
    out = hubauth("token", "--provider", "cave", "--server", server)
    assert out.strip() == CAVE_TOKEN


def test_cave_datastack_map_both_ways(home):
    server = "https://minnie.example"
    hubauth(
        "save-token", "--provider", "cave", "--server", server, "--profile", "minnie65_public",
        "-o", "validate=false", stdin=CAVE_TOKEN,
    )
    # caveclient's lookup finds the server hubauth recorded.
    assert datastack_lookup.handle_server_address("minnie65_public", None) == server
    # hubauth finds the server caveclient recorded.
    datastack_lookup.handle_server_address("fanc", "https://fanc.example", write=True)
    cave_auth.AuthClient(server_address="https://fanc.example").save_token(
        CAVE_OTHER, write_to_server_file=True, overwrite=True
    )
    out = hubauth("token", "--provider", "cave", "--profile", "fanc")
    assert out.strip() == CAVE_OTHER


def test_cave_token_path_is_caveclients_token_file(home):
    server = "https://minnie.example"
    mine = home / "elsewhere" / "mine.json"
    hubauth(
        "save-token", "--provider", "cave", "--server", server, "--profile", "minnie65_public",
        "-o", f"token_path={mine}", "-o", "validate=false", stdin=CAVE_TOKEN,
    )
    # caveclient's token_file reads it; its map (always in ~/.cloudvolume/secrets)
    # has the datastack; the per-server file of the secrets directory was not written.
    assert cave_auth.AuthClient(token_file=str(mine), server_address=server).token == CAVE_TOKEN
    assert datastack_lookup.handle_server_address("minnie65_public", None) == server
    assert cave_auth.AuthClient(server_address=server).token is None
    assert sorted(p.name for p in mine.parent.iterdir() if not p.name.endswith(".lock")) == [
        "mine.json"
    ]

    # caveclient 8.2.1 cannot save to a token_file with write_to_server_file
    # (the default): it only sets the per-server path without one (auth.py:96-99, 301).
    theirs = home / "elsewhere" / "theirs.json"
    real = cave_auth.AuthClient(token_file=str(theirs), server_address=server)
    with pytest.raises(AttributeError):
        real.save_token(CAVE_OTHER)
    real.save_token(CAVE_OTHER, write_to_server_file=False)
    out = hubauth("token", "--provider", "cave", "--server", server, "-o", f"token_path={theirs}")
    assert out.strip() == CAVE_OTHER
    # The datastack alone, with token_path: its server from the map in ~.
    out = hubauth(
        "token", "--provider", "cave", "--profile", "minnie65_public", "-o", f"token_path={mine}"
    )
    assert out.strip() == CAVE_TOKEN


# --- DagsHub ------------------------------------------------------------


def test_dagshub_cache_both_ways(home):
    cache = home / ".cache" / "dagshub" / "tokens"
    host = "https://dagshub.example"
    hubauth(
        "save-token", "--provider", "dagshub", "--server", host, "-o", "validate=false",
        stdin="app-token-from-hubauth",
    )
    storage = TokenStorage(cache_location=str(cache))
    assert [t.token_value for t in storage._token_cache[host]] == ["app-token-from-hubauth"]
    # The real client adds a token and saves; hubauth keeps both, in order.
    storage.add_token("app-token-from-dagshub", host=host, skip_validation=True)
    again = TokenStorage(cache_location=str(cache))
    assert [t.token_value for t in again._token_cache[host]] == [
        "app-token-from-hubauth",
        "app-token-from-dagshub",
    ]
    out = hubauth(
        "token", "--provider", "dagshub", "--server", host, "-o", "validate=false"
    )
    assert out.strip() == "app-token-from-hubauth"
    hubauth("logout", "--provider", "dagshub", "--server", host)
    assert host not in TokenStorage(cache_location=str(cache))._token_cache


# --- DHCore -------------------------------------------------------------


def test_dhcore_ini_both_ways(home, monkeypatch):
    ini = home / ".dhcore.ini"
    # The SDK fixes its file's path when its config is made: make it again
    # under this HOME (and check, so the real ~/.dhcore.ini is never touched).
    sdk_config = dh_config.get_client_config()
    monkeypatch.setattr(sdk_config, "config_ini_path", ini)
    monkeypatch.setattr(sdk_config, "config_env_path", str(home / ".env"))
    assert file_module._get_ini_file() == ini
    monkeypatch.setenv("DHCORE_ENDPOINT", "http://digitalhub-core:8080")
    hubauth("save-token", "--provider", "dhcore", "--profile", "dev", stdin="tok-from-hubauth")
    cfg = file_module.load_file()
    assert file_module.load_profile(cfg) == "dev"
    assert file_module.load_key(cfg, "dev", "DHCORE_ACCESS_TOKEN") == "tok-from-hubauth"

    # The SDK writes a refreshed token (as after its refresh): a JWT whose exp
    # is an hour away, leaving hubauth's dhcore_expires_at stale. hubauth
    # hands it out as it is (it does not refresh early) with the JWT's exp.
    import base64
    import time

    exp = int(time.time()) + 3600
    payload = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).rstrip(b"=").decode()
    jwt = f"eyJhbGciOiJub25lIn0.{payload}.c2ln"
    file_module.write_config(
        {
            "dhcore_access_token": jwt,
            "dhcore_refresh_token": "r-rotated",
            "dhcore_issuer": "http://127.0.0.1:1",
            "dhcore_client_id": "c",
            "expires_in": 3600,
            "dhcore_expires_at": "2001-01-01T00:00:00Z",
        },
        "dev",
    )
    out = hubauth("token", "--provider", "dhcore", "-o", "validate=false")
    assert out.strip() == jwt
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read(ini)
    assert "oauth2_token_endpoint" not in parsed["dev"]

    # hubauth's own keys beside the SDK's are read by neither SDK version.
    parsed["dev"]["hubauth_issuer"] = "http://127.0.0.1:1"
    parsed["dev"]["hubauth_pat_sha256"] = "0" * 64
    with open(ini, "w") as f:
        parsed.write(f)
    cfg = file_module.load_file()
    assert file_module.load_key(cfg, "dev", "DHCORE_ACCESS_TOKEN") == jwt

    # Logout removes the token keys; the SDK then finds no access token.
    hubauth("logout", "--provider", "dhcore")
    cfg = file_module.load_file()
    assert file_module.load_key(cfg, "dev", "DHCORE_ACCESS_TOKEN") is None
    assert file_module.load_key(cfg, "dev", "DHCORE_CLIENT_ID") == "c"
