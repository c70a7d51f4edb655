"""hubauth: get, keep, refresh, check and hand out auth tokens for data and
compute hubs (JuliaHub, DagsHub, DHCore, CAVE, any OIDC server).

A thin ctypes binding of libhubauth's C ABI; every rule lives in the library.

    import hubauth
    auth = hubauth.authenticate("https://juliahub.com")
    headers = {"Authorization": auth.authorization.reveal()}   # "Bearer …" or "Basic …"

``hubauth.httpx.HubAuth(auth)`` and ``hubauth.requests.HubAuth(auth)`` add the
header to every request and, on a 401, reauthenticate once and retry.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._errors import (
    AuthenticationError,
    CancelledError,
    FormatError,
    HubAuthError,
    HubAuthIOError,
    BufferTooSmallError,
    InsecureError,
    InternalError,
    InvalidArgumentError,
    LibraryNotFoundError,
    LoginTimeoutError,
    NetworkError,
    NoCredentialsError,
    NullArgumentError,
    PanicError,
    ServerError,
)
from ._lib import path as library_path  # noqa: E402  (after the errors: loading may raise LibraryNotFoundError)
from ._lib import version as library_version
from . import _signatures

# Every status code of the header (HUBAUTH_OK, HUBAUTH_ERR_*), from
# _signatures, so a code the header gains is exported without an edit here.
_STATUS_CODES = {k: v for k, v in vars(_signatures).items() if k.startswith("HUBAUTH_")}
globals().update(_STATUS_CODES)

from ._api import (
    Authentication,
    Hook,
    Secret,
    authenticate,
    authenticate_async,
    check_authentication,
    current_authentication,
    get_token,
    logout,
    logout_async,
    reauthenticate,
    save_token,
    save_token_async,
)

__all__ = [
    "__version__",
    "library_version",
    "library_path",
    "Authentication",
    "Hook",
    "Secret",
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
    "BufferTooSmallError",
    "InsecureError",
    "InternalError",
    "PanicError",
    "LibraryNotFoundError",
]
__all__ += sorted(_STATUS_CODES, key=_STATUS_CODES.__getitem__)
