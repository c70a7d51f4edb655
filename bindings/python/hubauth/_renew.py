"""What the httpx and requests auth objects share: the Authorization header
value to send (the library's ``hubauth_authorization``: the binding never
picks the scheme), only to the hub's origin, and the renegotiation on a 401
from that origin (a bare reauthenticate: the core asks the server before it
logs in again, then one retry), single-flight per authentication.

The ``*_async`` methods do the same on an asyncio loop through the library's
jobs (``token_async`` and friends): no thread, and a fresh token costs no
suspension at all."""

from __future__ import annotations

import asyncio
import hmac
import threading
import weakref
from typing import Iterable, Optional, Tuple
from urllib.parse import urlsplit

from ._api import Authentication, _resolve

_locks: "weakref.WeakKeyDictionary[Authentication, threading.Lock]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()
_current_lock = threading.Lock()


class _CurrentKey:
    """The key of the single-flight locks of ``Renewer(None)``."""


_CURRENT = _CurrentKey()
# Per authentication (or _CURRENT), per event loop: an asyncio.Lock (one
# belongs to one loop). Weak both ways: nothing here keeps either alive.
_async_locks: "weakref.WeakKeyDictionary[object, weakref.WeakKeyDictionary]" = weakref.WeakKeyDictionary()


class Renewer:
    """Authorization header values for one Authentication (None: the current
    one at each request)."""

    def __init__(self, auth: Optional[Authentication] = None) -> None:
        if auth is not None and not isinstance(auth, Authentication):
            raise TypeError(f"expected a hubauth.Authentication or None, not {type(auth).__name__}")
        self.auth = auth

    def authentication(self) -> Authentication:
        return _resolve(self.auth)

    def header(self) -> str:
        """The Authorization header value to send now (refreshed by the
        library when the token expires soon)."""
        return self.header_of(self.authentication())

    def renew(self, rejected: Optional[str]) -> str:
        """The header value to retry with after the server answered 401 to
        the header value `rejected`.

        If another request already replaced that token (it got its 401 first),
        its replacement is used; otherwise the authentication is renewed with a
        bare ``reauthenticate()``: the core reloads the store and asks the
        server whether the token is good, and refreshes or logs in again
        (through the hook given to authenticate) only when it is not."""
        auth = self.authentication()
        with _lock_for(self.auth):
            current = self.header_of(auth)
            if not hmac.compare_digest(current.encode(), (rejected or "").encode()):
                return current
            auth.reauthenticate()
            return self.header_of(auth)

    async def header_async(self) -> str:
        """``header()`` without blocking the event loop."""
        return await self.header_of_async(self.authentication())

    async def renew_async(self, rejected: Optional[str]) -> str:
        """``renew()`` on the event loop: ``reauthenticate_async``, and
        single-flight per authentication and loop (an asyncio.Lock, so a
        request waiting for another's renewal does not block the loop)."""
        auth = self.authentication()
        async with _async_lock_for(self.auth):
            current = await self.header_of_async(auth)
            if not hmac.compare_digest(current.encode(), (rejected or "").encode()):
                return current
            await auth.reauthenticate_async()
            return await self.header_of_async(auth)

    def sends_to(self, url: str, extra: Iterable[Tuple[str, str, int]] = ()) -> bool:
        """Whether a request to `url` may carry the token: only to the origin
        (scheme, host, port) of the authentication's server, or one of the
        `extra` origins the caller named. Only a 401 from such an origin
        renegotiates."""
        target = origin(url)
        if target is None:
            return False
        return target == origin(self.authentication().server) or target in extra

    @staticmethod
    def header_of(auth: Authentication) -> str:
        with auth.authorization as secret:
            return secret.reveal()

    @staticmethod
    async def header_of_async(auth: Authentication) -> str:
        with await auth.authorization_async() as secret:
            return secret.reveal()


def _async_lock_for(auth: Optional[Authentication]) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    key = _CURRENT if auth is None else auth
    with _locks_guard:
        per_loop = _async_locks.get(key)
        if per_loop is None:
            per_loop = _async_locks[key] = weakref.WeakKeyDictionary()
        lock = per_loop.get(loop)
        if lock is None:
            lock = per_loop[loop] = asyncio.Lock()
        return lock


def _lock_for(auth: Optional[Authentication]) -> threading.Lock:
    if auth is None:
        return _current_lock
    with _locks_guard:
        lock = _locks.get(auth)
        if lock is None:
            lock = _locks[auth] = threading.Lock()
        return lock


_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin(url: str) -> Optional[Tuple[str, str, int]]:
    """(scheme, host, port) of `url`, lower-cased, with the scheme's default
    port filled in; None for a URL without a host or with a bad port."""
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or not scheme:
        return None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
        if port is None:
            return None
    return (scheme, host, port)


def origins(urls: Iterable[str]) -> Tuple[Tuple[str, str, int], ...]:
    """The origins of `urls`; a URL without one is an error (a typo must not
    silently send no token, or the token somewhere unexpected)."""
    result = []
    for url in urls:
        o = origin(url)
        if o is None:
            raise ValueError(f"not an absolute http(s) URL: {url!r}")
        result.append(o)
    return tuple(result)
