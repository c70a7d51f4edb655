"""What the httpx and requests auth objects share: the Authorization header
value to send (the library's ``hubauth_authorization``: the binding never
picks the scheme), only to the hub's origin, and the renegotiation on a 401
from that origin (a bare reauthenticate: the core asks the server before it
logs in again, then one retry), single-flight per authentication."""

from __future__ import annotations

import hmac
import threading
import weakref
from typing import Iterable, Optional, Tuple
from urllib.parse import urlsplit

from ._api import Authentication, _resolve

_locks: "weakref.WeakKeyDictionary[Authentication, threading.Lock]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()
_current_lock = threading.Lock()


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
