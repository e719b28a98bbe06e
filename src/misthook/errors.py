"""The one exception tree of misthook.

::

    MisthookError
    ├── ConfigError            a MISTHOOK_* setting or CLI flag is invalid (at start)
    ├── StoreError             the database failed; driver errors are translated to this
    └── ApiError               carries an HTTP status and a Mist-shaped body {"detail": ...}
        ├── BadRequestError    400 {"detail", "reason"?}; nothing was changed
        ├── UnauthorizedError  401 missing or invalid token
        ├── ForbiddenError     403 the token's role may not do this
        ├── NotFoundError      404 no such object, or not reachable by this token
        ├── ConflictError      409
        └── RateLimitedError   429 with Retry-After

Remote delivery failures are never exceptions: they are outcome values (see
``misthook.delivery``).
"""

from __future__ import annotations

from typing import Any


class MisthookError(Exception):
    """Something went wrong in misthook."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(MisthookError):
    """A setting is invalid."""


class StoreError(MisthookError):
    """The database failed."""


class ApiError(MisthookError):
    """An error the API answers with its status and a ``{"detail": ...}`` body."""

    status_code = 500
    default_detail = "Internal error."

    def __init__(self, detail: str | None = None, *, reason: str | None = None) -> None:
        self.detail = detail or self.default_detail
        self.reason = reason
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail}
        if self.reason is not None:
            body["reason"] = self.reason
        return body

    def headers(self) -> dict[str, str]:
        return {}


class BadRequestError(ApiError):
    status_code = 400
    default_detail = "Bad request."


class UnauthorizedError(ApiError):
    status_code = 401
    default_detail = "Authentication credentials were not provided."


class ForbiddenError(ApiError):
    status_code = 403
    default_detail = "You do not have permission to perform this action."


class NotFoundError(ApiError):
    status_code = 404
    default_detail = "Not found."


class ConflictError(ApiError):
    status_code = 409
    default_detail = "Conflict."


class RateLimitedError(ApiError):
    status_code = 429
    default_detail = (
        "Too Many Request. The API Token used for the request reached the "
        "5000 API Calls per hour threshold"
    )

    def __init__(self, retry_after_s: int, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}
