"""What the httpx and requests auth objects share: the Authorization header
value to send (the library's ``hubauth_authorization``: the binding never
picks the scheme), and the renegotiation on a 401 (drop the token:
reauthenticate with force, then retry once), single-flight per
authentication."""

from __future__ import annotations

import hmac
import threading
import weakref
from typing import Optional

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
        its replacement is used; otherwise the authentication is renewed with
        ``reauthenticate(force=True)``, which logs in again (through the hook
        given to authenticate) when no other valid token is stored."""
        auth = self.authentication()
        with _lock_for(self.auth):
            current = self.header_of(auth)
            if not hmac.compare_digest(current.encode(), (rejected or "").encode()):
                return current
            auth.reauthenticate(force=True)
            return self.header_of(auth)

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
