"""The exceptions of the binding: one class per status code of the C ABI."""

from __future__ import annotations

from typing import Dict, Optional, Type

from ._keywords import render

__all__ = [
    "HubAuthError",
    "NullArgumentError",
    "InvalidArgumentError",
    "NoCredentialsError",
    "AuthenticationError",
    "NetworkError",
    "ServerError",
    "HubAuthIOError",
    "FormatError",
    "CancelledError",
    "LoginTimeoutError",
    "InsecureError",
    "BufferTooSmallError",
    "InternalError",
    "PanicError",
    "LibraryNotFoundError",
    "error_for",
]


class HubAuthError(Exception):
    """An error reported by libhubauth.

    ``code`` is the library's stable status number (``HUBAUTH_ERR_*``, e.g. 3
    for "no credentials") and ``message`` its explanation, which never contains
    a token.
    """

    #: The status code this class stands for (None on the base class).
    status: Optional[int] = None

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def __reduce__(self):  # picklable, e.g. across multiprocessing
        return (type(self), (self.message, self.code))


class InvalidArgumentError(HubAuthError, ValueError):
    """An argument was invalid: unknown option key, bad option value, bad UTF-8 (2)."""

    status = 2


class NullArgumentError(InvalidArgumentError):
    """A required argument was missing (1); a bug in the binding if you see it."""

    status = 1


class NoCredentialsError(HubAuthError):
    """No usable token and no way to get one without a user, e.g. interactive=False (3)."""

    status = 3


class AuthenticationError(HubAuthError):
    """The server refused: bad token, denied login, tries exhausted (4)."""

    status = 4


class NetworkError(HubAuthError):
    """The server could not be reached or stopped answering (5)."""

    status = 5


class ServerError(HubAuthError):
    """The server answered with an error or with something unusable (6)."""

    status = 6


class HubAuthIOError(HubAuthError):
    """A token file could not be read or written (7)."""

    status = 7


class FormatError(HubAuthError):
    """A stored file is malformed; it was left unchanged (8)."""

    status = 8


class CancelledError(HubAuthError):
    """The login was cancelled: the hook returned False (9)."""

    status = 9


class LoginTimeoutError(HubAuthError):
    """The login or a lock wait took longer than ``timeout`` (10)."""

    status = 10


class InsecureError(HubAuthError):
    """A URL was refused because it is not https (http only for loopback) (11)."""

    status = 11


class BufferTooSmallError(HubAuthError):
    """A caller's buffer was too small for the token (12; hubauth_token_copy)."""

    status = 12


class InternalError(HubAuthError):
    """A bug or an impossible state inside hubauth (99)."""

    status = 99


class PanicError(InternalError):
    """A bug: hubauth panicked and the panic was caught at the boundary (98)."""

    status = 98


class LibraryNotFoundError(OSError):
    """libhubauth could not be found or loaded; the message lists every path tried."""


_BY_CODE: Dict[int, Type[HubAuthError]] = {
    cls.status: cls
    for cls in (
        NullArgumentError,
        InvalidArgumentError,
        NoCredentialsError,
        AuthenticationError,
        NetworkError,
        ServerError,
        HubAuthIOError,
        FormatError,
        CancelledError,
        LoginTimeoutError,
        InsecureError,
        BufferTooSmallError,
        InternalError,
        PanicError,
    )
}


def error_for(code: int, message: str) -> HubAuthError:
    """The exception for a status code; unknown (newer) codes give a plain
    HubAuthError. The options the message names are written as this
    binding's keywords (`force=True`, `timeout`): see ``_keywords``."""
    cls = _BY_CODE.get(code, HubAuthError)
    return cls(render(message) or f"hubauth failed with status {code}", code)
