"""What the httpx and requests auth objects share: the bearer token to send,
and the renegotiation on a 401 (drop the token: reauthenticate with force,
then retry once), single-flight per authentication."""

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
    """Bearer tokens for one Authentication (None: the current one at each request)."""

    def __init__(self, auth: Optional[Authentication] = None) -> None:
        if auth is not None and not isinstance(auth, Authentication):
            raise TypeError(f"expected a hubauth.Authentication or None, not {type(auth).__name__}")
        self.auth = auth

    def authentication(self) -> Authentication:
        return _resolve(self.auth)

    def bearer(self) -> str:
        """The token to send now (refreshed by the library when it expires soon)."""
        with self.authentication().token as secret:
            return secret.reveal()

    def renew(self, rejected: str) -> str:
        """The token to retry with after the server answered 401 to `rejected`.

        If another request already replaced that token (it got its 401 first),
        its replacement is used; otherwise the authentication is renewed with
        ``reauthenticate(force=True)``, which logs in again (through the hook
        given to authenticate) when no other valid token is stored."""
        auth = self.authentication()
        with _lock_for(self.auth):
            current = self.bearer_of(auth)
            if not hmac.compare_digest(current.encode(), rejected.encode()):
                return current
            auth.reauthenticate(force=True)
            return self.bearer_of(auth)

    @staticmethod
    def bearer_of(auth: Authentication) -> str:
        with auth.token as secret:
            return secret.reveal()


def _lock_for(auth: Optional[Authentication]) -> threading.Lock:
    if auth is None:
        return _current_lock
    with _locks_guard:
        lock = _locks.get(auth)
        if lock is None:
            lock = _locks[auth] = threading.Lock()
        return lock


def bearer_value(header: Optional[str]) -> str:
    """The token of an ``Authorization: Bearer <token>`` header ('' if none)."""
    if not header:
        return ""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
