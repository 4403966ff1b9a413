"""Error bodies as each provider shapes them, so connectors see what production would send.

Every shape takes (status, message, code, param); `code` is the provider's machine-readable
reason (Google `reason`, Stripe `code`, Notion `code`, PayPal `name`, Slack `error`) and falls
back to the provider's usual one for the status.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

T = TypeVar("T")

ErrorShape = Callable[[int, str, str | None, str | None], Any]


def _default(table: dict[int, T], status: int, fallback: T) -> T:
    if status in table:
        return table[status]
    return table.get(status // 100 * 100, fallback)


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_STRIPE_TYPES = frozenset({"idempotency_error"})  # codes that are Stripe error types of their own


def stripe(status: int, message: str, code: str | None, param: str | None) -> Any:
    kind = "api_error" if status >= 500 else "invalid_request_error"
    if code in _STRIPE_TYPES:
        kind, code = code, None
    error: dict[str, Any] = {"type": kind, "message": message}
    code = code or {429: "rate_limit", 404: "resource_missing"}.get(status)
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


_GOOGLE = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    410: "fullSyncRequired",
    429: "rateLimitExceeded",
    500: "backendError",
}


def google(status: int, message: str, code: str | None, param: str | None) -> Any:
    item: dict[str, Any] = {"domain": "global", "reason": code or _default(_GOOGLE, status, "backendError")}
    item["message"] = message
    if param:
        item["location"] = param
        item["locationType"] = "parameter"
    return {"error": {"errors": [item], "code": status, "message": message}}


_GRAPH = {400: 100, 401: 190, 403: 10, 404: 803, 429: 4, 500: 2}


def graph(status: int, message: str, code: str | None, param: str | None) -> Any:
    number = int(code) if code and code.isdigit() else _default(_GRAPH, status, 1)
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": number,
            "is_transient": status >= 500 or status == 429,
            "fbtrace_id": "A" + secrets.token_urlsafe(15),
        }
    }


_PAYPAL = {
    400: "INVALID_REQUEST",
    401: "AUTHENTICATION_FAILURE",
    403: "NOT_AUTHORIZED",
    404: "RESOURCE_NOT_FOUND",
    422: "UNPROCESSABLE_ENTITY",
    429: "RATE_LIMIT_REACHED",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def paypal(status: int, message: str, code: str | None, param: str | None) -> Any:
    body: dict[str, Any] = {
        "name": _default(_PAYPAL, status, "INTERNAL_SERVER_ERROR"),
        "message": message,
        "debug_id": secrets.token_hex(7),
    }
    if code or param:
        body["details"] = [
            {"field": param or "", "location": "query", "issue": code or "INVALID_PARAMETER_VALUE"}
        ]
    return body


_NOTION = {
    400: "validation_error",
    401: "unauthorized",
    403: "restricted_resource",
    404: "object_not_found",
    409: "conflict_error",
    429: "rate_limited",
    500: "internal_server_error",
    503: "service_unavailable",
}


def notion(status: int, message: str, code: str | None, param: str | None) -> Any:
    return {
        "object": "error",
        "status": status,
        "code": code or _default(_NOTION, status, "internal_server_error"),
        "message": message,
    }


def github(status: int, message: str, code: str | None, param: str | None) -> Any:
    return {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}


_SLACK = {400: "invalid_arguments", 401: "invalid_auth", 404: "unknown_method", 429: "ratelimited"}


def slack(status: int, message: str, code: str | None, param: str | None) -> Any:
    return {"ok": False, "error": code or _default(_SLACK, status, "internal_error")}


_TIKTOK = {
    400: "invalid_params",
    401: "access_token_invalid",
    403: "scope_not_authorized",
    404: "invalid_params",
    429: "rate_limit_exceeded",
    500: "internal_error",
}


def tiktok(status: int, message: str, code: str | None, param: str | None) -> Any:
    """TikTok API v2: {"data": {}, "error": {"code", "message", "log_id"}} ("ok" on success)."""
    error = {"code": code or _default(_TIKTOK, status, "internal_error"), "message": message}
    return {"data": {}, "error": {**error, "log_id": "2025" + secrets.token_hex(14).upper()}}


_DOCUSIGN = {
    400: "INVALID_REQUEST_PARAMETER",
    401: "USER_AUTHENTICATION_FAILED",
    403: "USER_LACKS_PERMISSIONS",
    404: "RESOURCE_NOT_FOUND",
    429: "HOURLY_APINVOCATION_LIMIT_EXCEEDED",
    500: "UNSPECIFIED_ERROR",
}


def docusign(status: int, message: str, code: str | None, param: str | None) -> Any:
    """eSignature REST `errorDetails`: {"errorCode": "INVALID_REQUEST_PARAMETER", "message": "..."}."""
    return {"errorCode": code or _default(_DOCUSIGN, status, "UNSPECIFIED_ERROR"), "message": message}


_XERO_ERRORS = {400: (10, "ValidationException"), 404: (17, "ObjectNotFoundException")}


def xero(status: int, message: str, code: str | None, param: str | None) -> Any:
    """Xero Accounting: `{"ErrorNumber": 10, "Type": "ValidationException", "Message": ...}`; refused
    credentials come as a problem document `{"Title": "Unauthorized", "Detail": ...}`."""
    if status in (401, 403):
        return {
            "Type": None,
            "Title": phrase(status),
            "Status": status,
            "Detail": code or message,
            "Instance": secrets.token_hex(16),
            "Extensions": {},
        }
    number, kind = _XERO_ERRORS.get(status, (None, phrase(status).replace(" ", "") + "Exception"))
    body: dict[str, Any] = {"Type": code or kind, "Message": message}
    if number is not None:
        body = {"ErrorNumber": number, **body}
    return body


def generic(status: int, message: str, code: str | None, param: str | None) -> Any:
    error: dict[str, Any] = {"status": status, "code": code or phrase(status), "message": message}
    if param:
        error["param"] = param
    return {"error": error}


ERROR_SHAPES: dict[str, ErrorShape] = {
    "stripe": stripe,
    "google": google,
    "graph": graph,
    "paypal": paypal,
    "notion": notion,
    "github": github,
    "slack": slack,
    "tiktok": tiktok,
    "docusign": docusign,
    "xero": xero,
    "generic": generic,
}
