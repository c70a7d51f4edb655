"""The library's jobs (``hubauth_job_*``) driven from an asyncio loop.

A job runs a call that can wait on the network (a login, a refresh, a check)
on a thread of the library's own and never blocks the caller. The library
tells the loop there is news by ``hubauth_notify_fd``, a C function that
writes 8 bytes to a descriptor of ours (an eventfd, else a non-blocking
pipe) which the loop watches with ``add_reader``: no Python runs on the
library's thread and no thread of Python's is used. On every wake the job is
polled until there is nothing new (polling is level-triggered; notifies may
be merged).

A job whose answer is at hand (a fresh token) is done when it starts: its
first poll gives the result and the coroutine finishes without ever
suspending.

Ownership: every job is freed in ``finally`` (``Job.close``: cancelled first
if it still runs; the library's thread then ends by itself and frees what it
made). The owned results of the DONE event (auth, secret, error) are held by
the Job until the caller takes one; whatever was not taken is freed by
``close``.

A token or authorization job cancelled while its refresh request is on the
wire does not cost the login: the library lets a request that presents a
single-use refresh token run to its reply and saves the rotated token (the
job's DONE then carries it, and ``close`` frees it).
"""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import os
import threading
from typing import Any, Callable, Optional, Set, Tuple

from . import _lib, _log
from ._errors import error_for

_L = _lib.lib

NONE = _lib.HUBAUTH_JOB_EVENT_NONE
LOGIN = _lib.HUBAUTH_JOB_EVENT_LOGIN
PROGRESS = _lib.HUBAUTH_JOB_EVENT_PROGRESS
LOG = _lib.HUBAUTH_JOB_EVENT_LOG
DONE = _lib.HUBAUTH_JOB_EVENT_DONE


def raise_for(status: int, err: _lib.ErrorPtr) -> None:
    """Raises the exception for `status`, freeing `err` in every case."""
    try:
        if status == _lib.HUBAUTH_OK:
            return
        message = ""
        if err:
            code = _L.hubauth_error_code(err)
            raw = _L.hubauth_error_message(err)
            message = raw.decode("utf-8", "replace") if raw else ""
        else:
            code = status
        raise error_for(code, message) from None
    finally:
        _L.hubauth_error_free(err)


# Jobs started and not yet freed, for tests (a cancelled call leaves none).
_live_lock = threading.Lock()
_live = 0


def live_jobs() -> int:
    """How many jobs of this process the binding has not freed yet."""
    return _live


def _count(delta: int) -> None:
    global _live
    with _live_lock:
        _live += delta


class _Waker:
    """The descriptor ``hubauth_notify_fd`` writes to: an eventfd where the
    platform has one, else a pipe; both ends non-blocking, close-on-exec.
    The loop watches it only while a coroutine awaits ``wait()``."""

    __slots__ = ("read_fd", "write_fd")

    def __init__(self) -> None:
        if hasattr(os, "eventfd"):  # Linux, Python 3.10+
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self.read_fd = self.write_fd = fd
        else:
            r, w = os.pipe()  # non-inheritable (close-on-exec) by default
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            self.read_fd, self.write_fd = r, w

    @property
    def arg(self) -> ctypes.c_void_p:
        """``(void *)(intptr_t)fd``, as hubauth_notify_fd reads it back."""
        return ctypes.c_void_p(self.write_fd)

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 4096):
                if self.read_fd == self.write_fd:
                    return  # an eventfd: one read resets it
        except (BlockingIOError, InterruptedError):
            pass

    async def wait(self) -> None:
        """Returns once the descriptor was written to since the last wait
        (at once if it already was)."""
        loop = asyncio.get_running_loop()
        woken = loop.create_future()

        def readable() -> None:
            self.drain()
            if not woken.done():
                woken.set_result(None)

        loop.add_reader(self.read_fd, readable)
        try:
            await woken
        finally:
            loop.remove_reader(self.read_fd)

    def close(self) -> None:
        os.close(self.read_fd)
        if self.write_fd != self.read_fd:
            os.close(self.write_fd)


#: ``start(notify, arg, out, err) -> status``: hubauth_job_start or
#: hubauth_job_start_auth with every other argument bound.
Starter = Callable[[Any, ctypes.c_void_p, Any, Any], int]


class Job:
    """One ``hubauth_job``, notified through its own descriptor."""

    __slots__ = ("_ptr", "_waker", "_done", "status", "valid", "_auth", "_secret",
                 "_error")

    def __init__(self, start: Starter) -> None:
        waker = _Waker()
        ptr = _lib.JobPtr()
        err = _lib.ErrorPtr()
        try:
            status = start(_lib.NOTIFY_FD, waker.arg, ctypes.byref(ptr), ctypes.byref(err))
        except BaseException:
            waker.close()
            raise
        if status != _lib.HUBAUTH_OK or not ptr:
            waker.close()
            raise_for(status if status != _lib.HUBAUTH_OK else _lib.HUBAUTH_ERR_INTERNAL, err)
        _count(+1)
        self._ptr: Optional[_lib.JobPtr] = ptr
        self._waker = waker
        self._done = False
        self.status = _lib.HUBAUTH_OK
        self.valid = False
        self._auth: Optional[_lib.AuthPtr] = None
        self._secret: Optional[_lib.SecretPtr] = None
        self._error: Optional[_lib.ErrorPtr] = None

    @property
    def done(self) -> bool:
        return self._done

    def poll(self) -> Tuple[int, Optional[str], Optional[str]]:
        """One ``hubauth_job_poll``: (kind, text, user_code). LOGIN: the URL
        and the code (or None); PROGRESS: the message. The borrowed strings
        are copied at once; the owned results of DONE are kept here."""
        ev = _lib.JobEvent()
        err = _lib.ErrorPtr()
        raise_for(_L.hubauth_job_poll(self._ptr, ctypes.byref(ev), ctypes.byref(err)), err)
        kind = ev.kind
        if kind == DONE:
            if not self._done:  # the first DONE carries the result
                self._done = True
                self.status = ev.status
                self.valid = bool(ev.valid)
                self._auth = _lib.AuthPtr(ev.auth.value) if ev.auth else None
                self._secret = _lib.SecretPtr(ev.secret.value) if ev.secret else None
                self._error = _lib.ErrorPtr(ev.error.value) if ev.error else None
            return kind, None, None
        if kind == LOGIN:
            return kind, _text(ev.url), _text(ev.user_code)
        if kind == PROGRESS:
            return kind, _text(ev.message), None
        if kind == LOG:
            # Only a job whose options have no log callback makes these; the
            # options this package builds always have one (_log.install), but
            # a line that comes anyway goes where the callback's would.
            _log.emit(ev.status, _text(ev.message) or "")
        return kind, None, None

    async def wait(self) -> None:
        """Until the library notifies (the loop runs meanwhile)."""
        await self._waker.wait()

    def cancel(self) -> None:
        if self._ptr is not None:
            _L.hubauth_job_cancel(self._ptr)

    def raise_if_failed(self) -> None:
        """Raises the error of DONE (freeing it); nothing on success."""
        err, self._error = self._error, None
        raise_for(self.status, err if err is not None else _lib.ErrorPtr())

    def take_auth(self) -> _lib.AuthPtr:
        ptr, self._auth = self._auth, None
        if ptr is None:
            raise error_for(_lib.HUBAUTH_ERR_INTERNAL, "the job gave no authentication")
        return ptr

    def take_secret(self) -> _lib.SecretPtr:
        ptr, self._secret = self._secret, None
        if ptr is None:
            raise error_for(_lib.HUBAUTH_ERR_INTERNAL, "the job gave no secret")
        return ptr

    def close(self) -> None:
        """Cancels the job if it still runs, frees any result that arrived
        and was not taken, frees the job, then closes the descriptor (after
        the free, so no notify can write to a descriptor number reused)."""
        self._close()

    def _close(self) -> None:
        ptr = self._ptr
        if ptr is None:
            return
        try:
            if not self._done:
                _L.hubauth_job_cancel(ptr)
                # A result that is there already is taken now and freed below.
                while self.poll()[0] not in (NONE, DONE):
                    pass
        finally:
            self._ptr = None
            _L.hubauth_job_free(ptr)  # no notify starts after it returns
            self._waker.close()
            _count(-1)
            auth, secret, err = self._auth, self._secret, self._error
            self._auth = self._secret = self._error = None
            if auth is not None:
                _L.hubauth_auth_free(auth)
            if secret is not None:
                _L.hubauth_secret_free(secret)
            if err is not None:
                _L.hubauth_error_free(err)

    def __del__(self) -> None:
        try:
            self._close()
        except Exception:  # interpreter shutdown: the library may be gone
            pass


def _text(raw: Optional[bytes]) -> Optional[str]:
    return raw.decode("utf-8", "replace") if raw is not None else None


#: A login hook on the loop: called with the URL; may be a coroutine
#: function. False (or a falsy value other than None) cancels the login.
LoopHook = Callable[[str], Any]


async def run(job: Job, hook: Optional[LoopHook] = None) -> None:
    """Polls `job` until its DONE event, awaiting the library's notify
    between polls. LOGIN calls `hook(url)` on the loop (awaiting it when it
    returns an awaitable); a hook that answers False cancels the login
    (hubauth.CancelledError), and an exception it raises propagates: the
    caller's ``finally: job.close()`` cancels and frees the job.

    When the awaiting task is cancelled the job is cancelled by that
    ``close()`` too (a refresh already sent still completes in the library).

    A job done at start returns at the first poll, without suspending."""
    while True:
        kind, text, _code = job.poll()
        if kind == DONE:
            return
        if kind == NONE:
            await job.wait()
        elif kind == LOGIN and hook is not None:
            answer = hook(text or "")
            if inspect.isawaitable(answer):
                answer = await answer
            if answer is not None and not answer:
                job.cancel()
                raise error_for(_lib.HUBAUTH_ERR_CANCELLED, "the login was cancelled by the hook")
        # PROGRESS (e.g. the login still waits), LOG (logged by poll): poll on.
