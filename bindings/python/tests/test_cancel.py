"""Ctrl-C during a login: KeyboardInterrupt within a second, nothing written.

The login waits for a browser visit that never comes (the JuliaHub test
server's device flow); a helper thread interrupts the main thread once the
hook has shown the URL, the way a user pressing Ctrl-C does.
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
import time

import pytest

import hubauth

#: What the task promises; the measured times are printed (pytest -s).
BOUND_S = 1.0


def write(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o600)


def sigint() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def interrupt_when_prompted(prompted: threading.Event, interrupt, times: dict) -> threading.Thread:
    def run() -> None:
        if prompted.wait(10):
            time.sleep(0.3)  # the login is polling by now
            times["interrupted"] = time.monotonic()
            interrupt()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("interrupt", [sigint, _thread.interrupt_main], ids=["SIGINT", "interrupt_main"])
def test_ctrl_c_during_authenticate(server, token_path, interrupt):
    assert threading.current_thread() is threading.main_thread()
    prompted, times = threading.Event(), {}
    helper = interrupt_when_prompted(prompted, interrupt, times)
    with pytest.raises(KeyboardInterrupt):
        hubauth.authenticate(server.url, token_path=token_path, timeout=30,
                             hook=lambda url: prompted.set())  # nobody visits the URL
    took = time.monotonic() - times["interrupted"]
    helper.join()
    print(f"authenticate: KeyboardInterrupt {took * 1000:.1f} ms after {interrupt.__name__}")
    assert took < BOUND_S
    assert not token_path.exists()
    if token_path.parent.exists():
        assert not list(token_path.parent.glob("*.tmp*"))
    assert server.stats()["device_tokens_issued"] == 0


def test_ctrl_c_during_reauthenticate_keeps_the_file_and_the_authentication(server, token_path):
    write(token_path, server.issue())
    before = token_path.read_bytes()
    auth = hubauth.authenticate(server.url, token_path=token_path)
    token = auth.token.reveal()
    prompted, times = threading.Event(), {}
    helper = interrupt_when_prompted(prompted, sigint, times)
    with pytest.raises(KeyboardInterrupt):
        auth.reauthenticate(force=True, hook=lambda url: prompted.set())
    took = time.monotonic() - times["interrupted"]
    helper.join()
    print(f"reauthenticate: KeyboardInterrupt {took * 1000:.1f} ms after SIGINT")
    assert took < BOUND_S
    assert token_path.read_bytes() == before
    assert server.stats()["device_tokens_issued"] == 0
    # The cancel triggered belonged to that call: the authentication goes on.
    assert auth.token.reveal() == token
    assert auth.check()


def test_without_ctrl_c_the_cancel_changes_nothing(auto_server, token_path):
    auth = hubauth.authenticate(auto_server.url, token_path=token_path, hook=lambda url: None)
    auth.reauthenticate()
    auth.reauthenticate(force=True)
    assert auto_server.stats()["device_tokens_issued"] == 2


def test_off_the_main_thread_the_call_is_made_directly(auto_server, token_path):
    result = {}

    def run() -> None:
        result["auth"] = hubauth.authenticate(auto_server.url, token_path=token_path,
                                              hook=lambda url: None)
        result["thread"] = [t.name for t in threading.enumerate()]

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert result["auth"].username == "alice"
    assert "hubauth-call" not in result["thread"]
