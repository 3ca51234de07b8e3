"""HTTP errors: the project's exception tree mapped to statuses in one table.

Routes and the code below them raise these (or `ingest.kernel.errors`) exceptions, never
`HTTPException`; `install` registers the handlers that turn them into JSON answers
`{"detail": <sentence>, "code": <short name>}`.

PlantwatchError                          (ingest/kernel/errors.py)
├── RefusedReading                       422 (code: the collector's refusal code)
├── StoreError
│   ├── StoreUnavailable                 503
│   └── StoreRejected                    502 (logged; never caused by client text)
└── ApiError                             (here)
    ├── NotAuthenticated                 401
    ├── Forbidden                        403
    ├── NotFound                         404  (AlertNotFound, UnknownKey)
    ├── Conflict                         409  (AlertConflict)
    ├── PayloadTooLarge                  413
    ├── InvalidInput                     422  (RangeError, InvalidKeyRequest, PushRefused)
    ├── TooManyRequests                  429  (with Retry-After)
    └── Unavailable                      503  (PushUnavailable)
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ingest.kernel.errors import PlantwatchError, RefusedReading, StoreRejected, StoreUnavailable

log = logging.getLogger(__name__)


class ApiError(PlantwatchError):
    """Base of the errors the HTTP service raises on purpose; `str(exc)` is shown to the caller."""

    code = "error"


class NotAuthenticated(ApiError):
    code = "not_authenticated"


class Forbidden(ApiError):
    code = "forbidden"


class NotFound(ApiError):
    code = "not_found"


class Conflict(ApiError):
    code = "conflict"


class PayloadTooLarge(ApiError):
    code = "payload_too_large"


class InvalidInput(ApiError):
    code = "invalid_input"


class TooManyRequests(ApiError):
    code = "too_many_requests"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(ApiError):
    code = "unavailable"


# Most specific first: the first class an exception is an instance of gives its status.
STATUS_OF: tuple[tuple[type[PlantwatchError], int], ...] = (
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (InvalidInput, 422),
    (RefusedReading, 422),
    (TooManyRequests, 429),
    (StoreRejected, 502),
    (Unavailable, 503),
    (StoreUnavailable, 503),
)
INTERNAL_ERROR = "internal error; see the service log"


def status_of(exc: BaseException) -> int:
    """The HTTP status for `exc` (500 for anything the table does not name)."""
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(exc: PlantwatchError) -> dict[str, str]:
    """The JSON answer for a mapped error: a sentence for people, a code for programs."""
    if isinstance(exc, StoreUnavailable):
        return {"detail": f"time-series store unavailable: {exc}", "code": "store_unavailable"}
    if isinstance(exc, StoreRejected):
        return {"detail": "the time-series store rejected the query", "code": "store_rejected"}
    return {"detail": str(exc), "code": getattr(exc, "code", "error")}


def install(app: FastAPI) -> None:
    """Register the handlers that answer every error as JSON with its status from the table."""

    @app.exception_handler(PlantwatchError)
    async def mapped(request: Request, exc: PlantwatchError) -> JSONResponse:
        status = status_of(exc)
        if status == 500:
            log.exception("unmapped error", extra={"path": request.url.path}, exc_info=exc)
            return JSONResponse({"detail": INTERNAL_ERROR, "code": "internal"}, status_code=500)
        if isinstance(exc, StoreRejected):
            log.error("store rejected a query", extra={"error": str(exc), "path": request.url.path})
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        return JSONResponse(error_body(exc), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The client's own input is not echoed back: it may not even be JSON-encodable
        # (e.g. 1e999 parses as infinity), which would turn a 422 into a 500.
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors, "code": "invalid_request"}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug must still answer JSON, and leave its traceback in the log, not in the answer.
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)
