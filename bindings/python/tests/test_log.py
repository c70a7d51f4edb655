"""The library's warnings and notices reach Python's ``logging`` (logger
"hubauth"; hubauth/_log.py), escaped, never the raw fd 2: from blocking
calls, from jobs (on the library's thread), and the login prompt, which is
written to ``sys.stderr`` when logging would not show it."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import stat
import threading

import pytest

import hubauth
from hubauth import _lib, _log

LOOSE = "can be read by other users (mode 644)"


def write_loose(server, tmp_path):
    """A stored token others can read (the library warns, once per file and
    process), in a directory whose name holds an escape sequence."""
    path = tmp_path / "evil\x1b[2J" / "auth.toml"
    path.parent.mkdir(mode=0o700)
    path.write_text(server.issue(ttl_s=3600))
    os.chmod(path, 0o644)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    return path


def loose_records(caplog):
    return [r for r in caplog.records if r.name == "hubauth" and LOOSE in r.getMessage()]


def test_a_warning_goes_to_the_hubauth_logger_escaped_not_fd2(server, tmp_path, caplog, capfd):
    path = write_loose(server, tmp_path)
    with caplog.at_level(logging.WARNING, logger="hubauth"):
        with hubauth.authenticate(server.url, token_path=path, interactive=False) as auth:
            assert auth.username == "alice"
    [record] = loose_records(caplog)
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "evil\\u{1b}[2J" in message and "\x1b" not in message
    assert not message.startswith("hubauth:")
    assert LOOSE not in capfd.readouterr().err


def test_a_jobs_warning_reaches_logging_from_the_librarys_thread(server, tmp_path, caplog, capfd):
    path = write_loose(server, tmp_path)

    async def main():
        return await hubauth.authenticate_async(server.url, token_path=path, interactive=False)

    with caplog.at_level(logging.WARNING, logger="hubauth"):
        auth = asyncio.run(main())
        auth.close()
    [record] = loose_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.threadName != threading.current_thread().name
    assert record.thread != threading.get_ident(), "the job's thread, not the loop's"
    assert LOOSE not in capfd.readouterr().err


def test_a_log_event_of_a_job_without_callback_reaches_logging(server, tmp_path, caplog, capfd):
    # Options built by hand, with no log callback: the library then makes the
    # warning a LOG event, which the job's poll logs on the polling thread.
    from hubauth import _jobs

    path = write_loose(server, tmp_path)
    L = _lib.lib
    options = L.hubauth_options_new()
    try:
        for key, value in (("server", server.url), ("token_path", str(path)),
                           ("interactive", "false")):
            err = _lib.ErrorPtr()
            _jobs.raise_for(L.hubauth_options_set(options, key.encode(), value.encode(),
                                                  ctypes.byref(err)), err)
        job = _jobs.Job(lambda notify, arg, out, err: L.hubauth_job_start(
            options, _lib.HUBAUTH_JOB_AUTHENTICATE, notify, arg, out, err))
    finally:
        L.hubauth_options_free(options)
    try:
        with caplog.at_level(logging.WARNING, logger="hubauth"):
            asyncio.run(_jobs.run(job))
        assert job.status == _lib.HUBAUTH_OK
    finally:
        job.close()
    [record] = loose_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.thread == threading.get_ident(), "logged by the poll, on this thread"
    assert LOOSE not in capfd.readouterr().err


@pytest.fixture
def no_browser(tmp_path, monkeypatch):
    """An `xdg-open` that does nothing, first on PATH: the login prompt is
    shown, and no real browser opens."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opener = bin_dir / "xdg-open"
    opener.write_text("#!/bin/sh\nexit 0\n")
    opener.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_the_login_prompt_is_an_info_record_when_logging_shows_info(
        auto_server, token_path, no_browser, caplog, capfd):
    with caplog.at_level(logging.INFO, logger="hubauth"):
        with hubauth.authenticate(auto_server.url, token_path=token_path, interactive=True) as auth:
            assert auth.username == "alice"
    prompts = [r for r in caplog.records if r.getMessage().startswith("to log in, open ")]
    assert len(prompts) == 1 and prompts[0].levelno == logging.INFO
    assert auto_server.url in prompts[0].getMessage()
    assert "to log in" not in capfd.readouterr().err


def test_the_login_prompt_goes_to_sys_stderr_when_logging_would_hide_it(
        auto_server, token_path, no_browser, caplog, capfd):
    logging.getLogger("hubauth").setLevel(logging.NOTSET)
    assert not logging.getLogger("hubauth").isEnabledFor(logging.INFO)  # the default
    with hubauth.authenticate(auto_server.url, token_path=token_path, interactive=True) as auth:
        assert auth.username == "alice"
    err = capfd.readouterr().err
    assert f"hubauth: to log in, open {auto_server.url}" in err
    assert not [r for r in caplog.records if r.getMessage().startswith("to log in")]


def test_levels_map_to_logging_and_unknown_ones_to_the_nearest():
    assert [_log.python_level(level) for level in (
        _lib.HUBAUTH_LOG_ERROR, _lib.HUBAUTH_LOG_WARN, _lib.HUBAUTH_LOG_NOTICE,
        _lib.HUBAUTH_LOG_INFO, _lib.HUBAUTH_LOG_DEBUG,
    )] == [logging.ERROR, logging.WARNING, logging.INFO, logging.INFO, logging.DEBUG]
    assert _log.python_level(0) == logging.ERROR
    assert _log.python_level(99) == logging.DEBUG


def test_a_failing_handler_does_not_break_the_call_or_reach_fd2(server, tmp_path, capfd):
    class Broken(logging.Handler):
        def emit(self, record):
            raise RuntimeError("handler broke")

        def handleError(self, record):  # logging's own report would go to stderr
            raise

    logger = logging.getLogger("hubauth")
    broken = Broken()
    logger.addHandler(broken)
    try:
        path = write_loose(server, tmp_path)
        with hubauth.authenticate(server.url, token_path=path, interactive=False) as auth:
            assert auth.username == "alice"
    finally:
        logger.removeHandler(broken)
    # ctypes would print an exception that left the callback on fd 2.
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "handler broke" not in err
