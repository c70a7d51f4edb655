"""The Python API: authenticate, Authentication, Secret and friends.

All auth logic lives in libhubauth; this module only converts Python values to
options, calls the C ABI, frees what it returns and turns status codes into
exceptions.
"""

from __future__ import annotations

import ctypes
import hmac
import itertools
import os
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Union

from . import _jobs, _keywords, _lib, _log
from ._errors import NoCredentialsError
from ._jobs import raise_for as _raise_for

__all__ = [
    "Secret",
    "Authentication",
    "Hook",
    "authenticate",
    "authenticate_async",
    "reauthenticate",
    "check_authentication",
    "current_authentication",
    "get_token",
    "save_token",
    "save_token_async",
    "logout",
    "logout_async",
]

_L = _lib.lib

#: A login hook: called with the URL the user must open; return False to cancel.
Hook = Callable[[str], Optional[bool]]

# --- errors ------------------------------------------------------------------------


def _call(fn, *args) -> None:
    """Calls a fallible C function with a trailing ``hubauth_error **``."""
    err = _lib.ErrorPtr()
    status = fn(*args, ctypes.byref(err))
    _raise_for(status, err)


#: How often the main thread looks up from a blocking call (for Ctrl-C).
_WAIT_SLICE = 0.05


class _Cancel:
    """A ``hubauth_cancel`` for one blocking call: Ctrl-C triggers it.

    The options it is set on (and an authentication made from them) hold
    their own reference in the library, so this handle is freed as soon as
    the call returns."""

    __slots__ = ("_owned",)

    def __init__(self) -> None:
        ptr = _L.hubauth_cancel_new()
        if not ptr:
            raise OSError("hubauth_cancel_new failed (out of file descriptors?)")
        self._owned = _Owned(ptr, _L.hubauth_cancel_free, "cancel")

    def use(self) -> "_Using":
        return _Using(self._owned)

    def close(self) -> None:
        self._owned.close()


def _call_interruptible(cancel: _Cancel, fn, *args, undo: Optional[Callable[[], None]] = None) -> None:
    """``_call(fn, *args)`` that Ctrl-C interrupts: on the main thread the C
    call runs in a worker thread while the main thread waits in short
    slices, so Python can raise KeyboardInterrupt meanwhile; it then triggers
    ``cancel`` (set on the options of the call), waits for the call to
    return (the library ends its wait within milliseconds) and re-raises.
    When the call had succeeded all the same (Ctrl-C just as it returned),
    ``undo()`` releases what it handed out. Off the main thread no
    KeyboardInterrupt arrives, and the call is made directly."""
    if threading.current_thread() is not threading.main_thread():
        _call(fn, *args)
        return
    err = _lib.ErrorPtr()
    outcome: Dict[str, Any] = {}

    done = threading.Event()

    def run() -> None:
        try:
            outcome["status"] = fn(*args, ctypes.byref(err))
        except BaseException as e:  # noqa: BLE001 -- re-raised below
            outcome["raised"] = e
        finally:
            # A hook runs on this worker thread: what it raised travels to
            # the caller's thread, whose _raise_pending re-raises it.
            outcome["hook_error"] = getattr(_pending, "error", None)
            _pending.error = None
            done.set()

    # An Event, not Thread.join: a join interrupted by KeyboardInterrupt can
    # leave the Thread believing it has ended while it still runs.
    worker = threading.Thread(target=run, name="hubauth-call", daemon=True)
    interrupted: Optional[BaseException] = None
    with cancel.use() as c:
        worker.start()
        while True:
            try:
                if done.wait(_WAIT_SLICE):
                    break
            except KeyboardInterrupt as e:  # a second Ctrl-C waits as well
                interrupted = interrupted or e
                _L.hubauth_cancel_trigger(c)
    if outcome.get("hook_error") is not None:
        _pending.error = outcome["hook_error"]
    if "raised" in outcome:
        _L.hubauth_error_free(err)
        raise outcome["raised"]
    if interrupted is not None:
        _L.hubauth_error_free(err)
        if outcome["status"] == _lib.HUBAUTH_OK and undo is not None:
            undo()
        raise interrupted
    _raise_for(outcome["status"], err)


def _take_string(ptr: _lib.OwnedString) -> Optional[str]:
    """Copies and frees a ``char *`` the library handed over."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        _L.hubauth_string_free(ptr)


class _Owned:
    """One owned C handle, freed exactly once: by close(), by the garbage
    collector, or by the last call still using it when close() came from
    another thread (so close() never frees memory a running call reads)."""

    __slots__ = ("_ptr", "_free", "_users", "_closed", "_lock", "_what")

    def __init__(self, ptr, free, what: str) -> None:
        self._ptr = ptr
        self._free = free
        self._users = 0
        self._closed = False
        self._lock = threading.Lock()
        self._what = what

    def acquire(self):
        with self._lock:
            if self._closed:
                raise ValueError(f"the {self._what} is closed")
            self._users += 1
            return self._ptr

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._closed and self._users == 0:
                self._free_now()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._users == 0:
                self._free_now()

    @property
    def closed(self) -> bool:
        return self._closed

    def _free_now(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr:
            self._free(ptr)


class _Using:
    """``with _Using(owned) as ptr:`` keeps the handle alive during a call."""

    __slots__ = ("_owned",)

    def __init__(self, owned: _Owned) -> None:
        self._owned = owned

    def __enter__(self):
        return self._owned.acquire()

    def __exit__(self, *exc) -> None:
        self._owned.release()


# --- Secret ------------------------------------------------------------------------


class Secret:
    """A token held by libhubauth: its bytes are zeroed when it is closed or
    collected, and it never shows itself in ``repr``, ``str``, f-strings or
    logs. ``reveal()`` (alias ``get_secret_value()``, as pydantic's SecretStr)
    returns the value as a ``str``; that copy is ordinary Python memory, so
    reveal it only where it is used (e.g. an Authorization header)."""

    __slots__ = ("_owned", "__weakref__")

    def __init__(self, value: Union[str, "Secret"]) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret takes a str, not {type(value).__name__}")
        if "\0" in value:
            raise ValueError("a secret cannot contain NUL characters")
        ptr = _L.hubauth_secret_new(value.encode("utf-8"))
        if not ptr:
            raise MemoryError("hubauth_secret_new failed")
        self._owned = _Owned(ptr, _L.hubauth_secret_free, "secret")

    @classmethod
    def _from_ptr(cls, ptr: _lib.SecretPtr) -> "Secret":
        self = cls.__new__(cls)
        self._owned = _Owned(ptr, _L.hubauth_secret_free, "secret")
        return self

    def reveal(self) -> str:
        """The secret value. Do not log it."""
        with _Using(self._owned) as ptr:
            raw = _L.hubauth_secret_expose(ptr)
            return raw.decode("utf-8") if raw is not None else ""

    get_secret_value = reveal

    def __len__(self) -> int:
        with _Using(self._owned) as ptr:
            return int(_L.hubauth_secret_len(ptr))

    def __bool__(self) -> bool:
        return len(self) > 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.reveal().encode(), other.reveal().encode())

    __hash__ = None  # type: ignore[assignment]  # mutable (closable), like a buffer

    def __repr__(self) -> str:
        return "Secret('*****')" if not self._owned.closed else "Secret(<closed>)"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a hubauth Secret cannot be pickled (reveal() it deliberately)")

    def close(self) -> None:
        """Zeroes and frees the secret now. Idempotent."""
        self._owned.close()

    @property
    def closed(self) -> bool:
        return self._owned.closed

    def __enter__(self) -> "Secret":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._owned.close()
        except Exception:  # interpreter shutdown: the library may be gone
            pass


# --- options and the hook -----------------------------------------------------------


# Hooks the library may still call, by the id passed to it as userdata. The
# library says when it drops its last copy of a hook (free_userdata of
# hubauth_options_set_hook_full), which removes the entry: until then the
# thunk, and so its ctypes trampoline, stays alive whoever holds the options
# or authentications (hubauth_current() included).
_hooks_lock = threading.Lock()
_hooks: Dict[int, "_HookThunk"] = {}
_hook_ids = itertools.count(1)

# What a hook raised, per thread: the library calls the hook on the thread
# that runs the login, i.e. the one inside the C call.
_pending = threading.local()


def _free_hook(userdata: Optional[int]) -> None:
    with _hooks_lock:
        _hooks.pop(userdata or 0, None)


# Module-level, so it outlives every hook the library may free.
_FREE_HOOK = _lib.FREE_USERDATA_FN(_free_hook)


class _HookThunk:
    """A Python hook as a C ``hubauth_hook_fn``.

    The C function pointer ``cfunc`` is valid only while this object lives
    (when ctypes collects a CFUNCTYPE object, its trampoline is freed): it is
    kept in ``_hooks`` from ``install`` until the library frees it.

    An exception raised by the hook cannot cross C: ctypes would print it and
    return 0 ("continue"), so the login would wait for nothing. It is caught,
    the login is cancelled (return 1), and the caller re-raises it unchanged
    when the C call returns (``_raise_pending``), as ``sorted`` does with a
    failing ``key``.
    """

    __slots__ = ("hook", "cfunc")

    def __init__(self, hook: Hook) -> None:
        if not callable(hook):
            raise TypeError(f"hook must be callable, not {type(hook).__name__}")
        self.hook = hook
        self.cfunc = _lib.HOOK_FN(self._call)

    def _call(self, _userdata, url: Optional[bytes]) -> int:
        try:
            answer = self.hook(url.decode("utf-8", "replace") if url else "")
        except BaseException as e:  # noqa: BLE001 -- re-raised by _raise_pending
            if getattr(_pending, "error", None) is None:
                _pending.error = e
            return 1
        # None (no return statement) or truthy: go on; False (or 0): cancel.
        return 0 if answer is None or answer else 1

    def install(self, options_ptr) -> None:
        """Sets this hook on ``options_ptr``; the library frees it."""
        with _hooks_lock:
            key = next(_hook_ids)
            _hooks[key] = self
        status = _L.hubauth_options_set_hook_full(
            options_ptr, self.cfunc, ctypes.c_void_p(key), _FREE_HOOK
        )
        if status != _lib.HUBAUTH_OK:  # not taken: free_userdata will not run
            _free_hook(key)
            _raise_for(status, _lib.ErrorPtr())


def _clear_pending() -> None:
    _pending.error = None


def _raise_pending() -> None:
    """Re-raises what a hook raised during the C call that just returned."""
    error = getattr(_pending, "error", None)
    _pending.error = None
    if error is not None:
        raise error.with_traceback(error.__traceback__)


def _to_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(
        f"option {key}: expected str, int, bool, os.PathLike or Secret, not {type(value).__name__}"
    )


class _Options:
    """A ``hubauth_options`` handle built from keyword settings."""

    def __init__(self, settings: Dict[str, Any], thunk: Optional[_HookThunk],
                 cancel: Optional[_Cancel] = None) -> None:
        ptr = _L.hubauth_options_new()
        if not ptr:
            raise MemoryError("hubauth_options_new failed")
        self._owned = _Owned(ptr, _L.hubauth_options_free, "options")
        try:
            with _Using(self._owned) as p:
                # Warnings and notices into `logging` (see _log), never fd 2.
                _raise_for(_log.install(p), _lib.ErrorPtr())
                for key, value in settings.items():
                    if value is None:
                        continue
                    _call(
                        _L.hubauth_options_set,
                        p,
                        key.encode("utf-8"),
                        _to_value(key, value).encode("utf-8"),
                    )
                if thunk is not None:
                    thunk.install(p)
                if cancel is not None:
                    with cancel.use() as c:
                        _raise_for(_L.hubauth_options_set_cancel(p, c), _lib.ErrorPtr())
        except BaseException:
            self._owned.close()
            raise

    def use(self) -> _Using:
        return _Using(self._owned)

    def close(self) -> None:
        self._owned.close()

    def __enter__(self) -> "_Options":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _settings(
    server: Optional[str],
    provider: Optional[str],
    options: Dict[str, Any],
    timeout: Optional[float] = None,
) -> Dict[str, Any]:
    """The options the caller gave, and nothing else: a keyword left at None
    is not sent, so the library's default (or, for reauthenticate, the value
    given to authenticate) applies. Defaults live in the library only."""
    settings: Dict[str, Any] = {}
    if provider is not None:
        settings["provider"] = provider
    if server is not None:
        settings["server"] = server
    if timeout is not None:
        renamed = _keywords.RENAMED["timeout"]
        settings[renamed.key] = renamed.to_option(timeout)
    for key, value in options.items():
        if value is not None:
            settings[key] = value
    return settings


# --- Authentication -----------------------------------------------------------------

class Authentication:
    """A logged-in session: a server, a user, and a token kept fresh.

    Shared and mutable like JuliaHub.jl's ``Authentication``: after
    ``reauthenticate`` every holder (other Authentication objects for the same
    login, other threads, ``current_authentication()``) sees the new token.
    ``token`` returns the token to send, refreshed first when it is about to
    expire. Use it as a context manager or call ``close()`` to release it
    early; otherwise it is released when collected.
    """

    # _loop_hook: the hook given to authenticate_async, which
    # reauthenticate_async uses again (it runs on the event loop, so the
    # library cannot keep it with the options as it keeps a blocking hook).
    __slots__ = ("_owned", "_loop_hook", "__weakref__")

    def __init__(self) -> None:  # pragma: no cover - use authenticate()
        raise TypeError("use hubauth.authenticate() or hubauth.current_authentication()")

    @classmethod
    def _wrap(cls, ptr: _lib.AuthPtr) -> "Authentication":
        self = cls.__new__(cls)
        self._owned = _Owned(ptr, _L.hubauth_auth_free, "authentication")
        self._loop_hook = None
        return self

    # -- properties --

    @property
    def server(self) -> str:
        """The normalised server URL."""
        with _Using(self._owned) as ptr:
            return _take_string(_L.hubauth_auth_server(ptr)) or ""

    @property
    def username(self) -> Optional[str]:
        """The user name, or None when unknown."""
        with _Using(self._owned) as ptr:
            return _take_string(_L.hubauth_auth_username(ptr))

    @property
    def expires_at(self) -> Optional[datetime]:
        """When the current token expires (timezone-aware UTC), or None if never/unknown."""
        with _Using(self._owned) as ptr:
            seconds = _L.hubauth_auth_expires_at(ptr)
        return None if seconds < 0 else datetime.fromtimestamp(seconds, tz=timezone.utc)

    @property
    def token(self) -> Secret:
        """A new Secret holding the token a request should carry (for juliahub
        the id_token), refreshed first if it expires soon. A DHCore
        user/password credential is not a token: this raises InvalidArgument
        for it, and ``authorization`` gives its ``Basic …`` header."""
        out = _lib.SecretPtr()
        with _Using(self._owned) as ptr:
            _call(_L.hubauth_token, ptr, ctypes.byref(out))
        return Secret._from_ptr(out)

    @property
    def authorization(self) -> Secret:
        """A new Secret holding the whole ``Authorization`` header value a
        request should carry, as the library makes it for this hub:
        ``Bearer <token>``, or ``Basic <base64>`` for DHCore user/password
        credentials. Refreshed first like ``token``."""
        out = _lib.SecretPtr()
        with _Using(self._owned) as ptr:
            _call(_L.hubauth_authorization, ptr, ctypes.byref(out))
        return Secret._from_ptr(out)

    # -- operations --

    def check(self) -> bool:
        """Asks the server whether the token is good (True/False); network
        trouble raises instead."""
        valid = ctypes.c_bool(False)
        with _Using(self._owned) as ptr:
            _call(_L.hubauth_check, ptr, ctypes.byref(valid))
        return bool(valid.value)

    def reauthenticate(self, *, force: Optional[bool] = None, hook: Optional[Hook] = None,
                       timeout: Optional[float] = None, **options: Any) -> "Authentication":
        """Reloads the stored token (another process may have renewed it) and
        refreshes it if needed, or logs in again when that fails or ``force``
        is true. Updates this authentication in place (every holder sees it)
        and returns it. The options given here (e.g. interactive=False,
        timeout=...) are laid by the library over those given to authenticate,
        for this call only; what is not given here (None) keeps its value from
        authenticate, the hook included unless ``hook`` replaces it."""
        new_thunk = _HookThunk(hook) if hook is not None else None
        settings = _settings(None, None, dict(options, force=force), timeout)
        cancel = _Cancel()
        with _Using(self._owned) as ptr:
            _clear_pending()
            try:
                # Only what is set here (at least the cancel of this call,
                # which Ctrl-C triggers) is laid over the options of
                # authenticate; the rest keeps its value from there.
                with _Options(settings, new_thunk, cancel) as opts, opts.use() as o:
                    _call_interruptible(cancel, _L.hubauth_reauthenticate, ptr, o)
            finally:
                cancel.close()
                # Ours, or the hook kept from authenticate, may have raised.
                _raise_pending()
        # A hook given here served this call only: the library keeps the
        # options (and hook) of authenticate for later calls.
        return self

    # -- the same on an asyncio event loop: jobs, no thread of Python's --

    def _job(self, kind: int, settings: Optional[Dict[str, Any]] = None) -> _jobs.Job:
        """Starts `kind` on this authentication as a job (options laid over
        the authentication's for a reauthenticate only)."""
        with _Using(self._owned) as ptr:  # the job takes its own reference
            if settings is None:
                return _jobs.Job(lambda notify, arg, out, err: _L.hubauth_job_start_auth(
                    ptr, None, kind, notify, arg, out, err))
            with _Options(settings, None) as opts, opts.use() as o:  # copied by the start
                return _jobs.Job(lambda notify, arg, out, err: _L.hubauth_job_start_auth(
                    ptr, o, kind, notify, arg, out, err))

    async def _secret_async(self, kind: int) -> Secret:
        job = self._job(kind)
        try:
            # A fresh token: done at start, no suspension. Cancelled, the
            # job is too; a refresh already sent still completes and is
            # saved by the library.
            await _jobs.run(job)
            job.raise_if_failed()
            return Secret._from_ptr(job.take_secret())
        finally:
            job.close()

    async def token_async(self) -> Secret:
        """``token`` without blocking the event loop: a refresh runs on the
        library's thread while the loop goes on. A fresh token is at hand:
        the coroutine then finishes without suspending (no I/O, no thread).
        Cancelling the awaiting task ends the wait at once, but a refresh
        under way finishes (and is saved) in the background, as with the
        blocking ``token``: cutting it would use up the refresh token."""
        return await self._secret_async(_lib.HUBAUTH_JOB_TOKEN)

    async def authorization_async(self) -> Secret:
        """``authorization`` (the whole header value) without blocking the
        event loop; as ``token_async``."""
        return await self._secret_async(_lib.HUBAUTH_JOB_AUTHORIZATION)

    async def check_async(self) -> bool:
        """``check()`` without blocking the event loop."""
        job = self._job(_lib.HUBAUTH_JOB_CHECK)
        try:
            await _jobs.run(job)
            job.raise_if_failed()
            return job.valid
        finally:
            job.close()

    async def reauthenticate_async(self, *, force: Optional[bool] = None,
                                   hook: Optional[_jobs.LoopHook] = None,
                                   timeout: Optional[float] = None,
                                   **options: Any) -> "Authentication":
        """``reauthenticate()`` without blocking the event loop. ``hook``
        (default: the one given to ``authenticate_async``) runs on the loop
        with the login URL, as in ``authenticate_async``; without one the
        options of authenticate decide who shows it (a hook given to the
        blocking ``authenticate`` is still called on the library's thread)."""
        hook = hook if hook is not None else self._loop_hook
        if hook is not None and not callable(hook):
            raise TypeError(f"hook must be callable, not {type(hook).__name__}")
        given = dict(options, force=force)
        if hook is not None and given.get("open_browser") is None:
            given["open_browser"] = False  # the hook shows the URL
        job = self._job(_lib.HUBAUTH_JOB_REAUTHENTICATE, _settings(None, None, given, timeout))
        try:
            await _jobs.run(job, hook)
            job.raise_if_failed()
        finally:
            job.close()
        return self

    def close(self) -> None:
        """Releases this reference now (other references stay valid). Idempotent."""
        self._owned.close()

    @property
    def closed(self) -> bool:
        return self._owned.closed

    def __enter__(self) -> "Authentication":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._owned.close()
        except Exception:  # interpreter shutdown
            pass

    def __repr__(self) -> str:
        if self._owned.closed:
            return "Authentication(<closed>)"
        expires = self.expires_at
        return (
            f"Authentication(server={self.server!r}, username={self.username!r}, "
            f"expires_at={expires.isoformat() if expires else None!r})"
        )

    def __reduce__(self):
        raise TypeError("an Authentication cannot be pickled")


# --- module-level functions ----------------------------------------------------------


def authenticate(
    server: Optional[str] = None,
    *,
    provider: Optional[str] = None,
    force: Optional[bool] = None,
    maxcount: Optional[int] = None,
    hook: Optional[Hook] = None,
    token: Union[str, Secret, None] = None,
    interactive: Optional[bool] = None,
    validate: Optional[bool] = None,
    timeout: Optional[float] = None,
    **options: Any,
) -> Authentication:
    """Finds a stored token, refreshes it, or logs in, and returns the
    authentication (which also becomes ``current_authentication()``).

    A keyword left at None is not passed: the library's default applies
    (provider juliahub, maxcount 3, ...).

    ``server``: the hub URL (juliahub default: ``JULIA_PKG_SERVER``).
    ``hook(url)``: called instead of opening a browser with the URL the user
    must visit; return False to cancel the login (CancelledError); an
    exception it raises cancels the login and is re-raised here.
    ``token``: use this token as given and touch no file.
    ``interactive=False``: never wait for a user (NoCredentialsError instead).
    ``timeout``: seconds a login or a lock wait may take.
    Ctrl-C (KeyboardInterrupt) on the main thread cancels the call at once,
    having written nothing, and is re-raised.
    Any other library option is passed by name, e.g. ``token_path=...``,
    ``refresh_margin_s=60``, ``poll_interval_ms=100``, ``client_id=...``, or
    ``account="work"``: a named account (``hubauth login --name work``) fills
    every option not given here.
    """
    settings = _settings(
        server,
        provider,
        dict(options, force=force, maxcount=maxcount, token=token,
             interactive=interactive, validate=validate),
        timeout,
    )
    thunk = _HookThunk(hook) if hook is not None else None
    out = _lib.AuthPtr()
    cancel = _Cancel()  # Ctrl-C triggers it: KeyboardInterrupt within a second
    with _Options(settings, thunk, cancel) as opts, opts.use() as o:
        _clear_pending()
        try:
            _call_interruptible(cancel, _L.hubauth_authenticate, o, ctypes.byref(out),
                                undo=lambda: _L.hubauth_auth_free(out))
        finally:
            cancel.close()
            _raise_pending()
    return Authentication._wrap(out)


async def authenticate_async(
    server: Optional[str] = None,
    *,
    provider: Optional[str] = None,
    force: Optional[bool] = None,
    maxcount: Optional[int] = None,
    hook: Optional[_jobs.LoopHook] = None,
    token: Union[str, Secret, None] = None,
    interactive: Optional[bool] = None,
    validate: Optional[bool] = None,
    timeout: Optional[float] = None,
    **options: Any,
) -> Authentication:
    """``authenticate`` on an asyncio event loop, with the same keywords,
    that never blocks it: the call runs as a job on the library's thread and
    the loop is woken through a descriptor (no thread of Python's, no Python
    on the library's thread).

    ``hook(url)`` runs on the loop when the login URL is there (a plain
    function or a coroutine function, awaited); the library then neither
    prints the URL nor opens a browser (``open_browser=False``). It returns
    False to cancel the login (CancelledError); what it raises cancels the
    login and propagates. The authentication remembers it for
    ``reauthenticate_async``. Without a hook the library shows the URL as
    ``authenticate`` does, unless ``interactive=False``.

    Cancelling the awaiting task (``task.cancel()``, ``asyncio.wait_for``)
    cancels the job and frees it at once; the library's thread ends by
    itself within a fraction of a second and frees what it made.
    """
    if hook is not None and not callable(hook):
        raise TypeError(f"hook must be callable, not {type(hook).__name__}")
    given = dict(options, force=force, maxcount=maxcount, token=token,
                 interactive=interactive, validate=validate)
    if hook is not None and given.get("open_browser") is None:
        given["open_browser"] = False  # the hook shows the URL
    settings = _settings(server, provider, given, timeout)
    with _Options(settings, None) as opts, opts.use() as o:  # copied by the start
        job = _jobs.Job(lambda notify, arg, out, err: _L.hubauth_job_start(
            o, _lib.HUBAUTH_JOB_AUTHENTICATE, notify, arg, out, err))
    try:
        await _jobs.run(job, hook)
        job.raise_if_failed()
        auth = Authentication._wrap(job.take_auth())
    finally:
        job.close()
    auth._loop_hook = hook
    return auth


def reauthenticate(auth: Optional[Authentication] = None, *, force: Optional[bool] = None,
                   **options: Any) -> Authentication:
    """``auth.reauthenticate(force=..., **options)``; None means the current one."""
    return _resolve(auth).reauthenticate(force=force, **options)


def current_authentication() -> Optional[Authentication]:
    """The most recent successful authenticate() of this process, or None
    (like JuliaHub.jl's ``current_authentication()`` returning ``nothing``)."""
    ptr = _L.hubauth_current()
    if not ptr:
        return None
    return Authentication._wrap(ptr)


def _resolve(auth: Optional[Authentication]) -> Authentication:
    if auth is not None:
        return auth
    current = current_authentication()
    if current is None:
        raise NoCredentialsError(
            "not authenticated: call hubauth.authenticate() first", 3
        )
    return current


def check_authentication(auth: Optional[Authentication] = None) -> bool:
    """Whether the server accepts the token of ``auth`` (default: the current one)."""
    return _resolve(auth).check()


def get_token(auth: Optional[Authentication] = None) -> Secret:
    """The token to send for ``auth`` (default: the current one), fresh."""
    return _resolve(auth).token


def _secret_of(token: Union[str, Secret]) -> Secret:
    """`token` as a Secret: itself, or a new one the caller closes."""
    if not isinstance(token, (str, Secret)):
        raise TypeError(f"token must be a str or Secret, not {type(token).__name__}")
    return token if isinstance(token, Secret) else Secret(token)


def save_token(
    token: Union[str, Secret],
    *,
    server: Optional[str] = None,
    provider: Optional[str] = None,
    **options: Any,
) -> None:
    """Stores a token obtained elsewhere for ``provider`` and ``server``
    (juliahub: a whole auth.toml; dagshub: an app token; cave: a 32-hex token),
    atomically, mode 0600.

    A ``Secret`` is handed to the library straight from its own memory: no
    plaintext copy is made in Python, so a traceback that records local
    variables (Sentry, rich, ``pytest --showlocals``) cannot show it."""
    secret = _secret_of(token)
    try:
        with _Options(_settings(server, provider, options), None) as opts, opts.use() as o, \
                _Using(secret._owned) as ptr:
            _call(_L.hubauth_save_token, o, _lib.secret_bytes(ptr))
    finally:
        if secret is not token:
            secret.close()


async def save_token_async(
    token: Union[str, Secret],
    *,
    server: Optional[str] = None,
    provider: Optional[str] = None,
    **options: Any,
) -> None:
    """``save_token`` without blocking the event loop: a job on the
    library's thread, which checks a DagsHub app token with the server first
    (unless ``validate=False``) and may wait for the token file's lock while
    another process refreshes. The token is copied when the job starts, and
    a ``Secret`` is handed over from its own memory, as ``save_token`` does."""
    secret = _secret_of(token)
    try:
        with _Options(_settings(server, provider, options), None) as opts, opts.use() as o, \
                _Using(secret._owned) as ptr:
            job = _jobs.Job(lambda notify, arg, out, err: _L.hubauth_job_start_save_token(
                o, _lib.secret_bytes(ptr), notify, arg, out, err))
    finally:
        if secret is not token:
            secret.close()
    try:
        await _jobs.run(job)
        job.raise_if_failed()
    finally:
        job.close()


def logout(server: Optional[str] = None, *, provider: Optional[str] = None,
           **options: Any) -> None:
    """Forgets the stored token for ``provider`` and ``server`` (revoking it
    where the provider allows). A missing token is not an error."""
    with _Options(_settings(server, provider, options), None) as opts, opts.use() as o:
        _call(_L.hubauth_logout, o)


async def logout_async(server: Optional[str] = None, *, provider: Optional[str] = None,
                       **options: Any) -> None:
    """``logout`` without blocking the event loop (a revocation may wait on
    the network): a job on the library's thread."""
    with _Options(_settings(server, provider, options), None) as opts, opts.use() as o:
        job = _jobs.Job(lambda notify, arg, out, err: _L.hubauth_job_start(
            o, _lib.HUBAUTH_JOB_LOGOUT, notify, arg, out, err))
    try:
        await _jobs.run(job)
        job.raise_if_failed()
    finally:
        job.close()
