"""Every error a user can hit, in one hierarchy. Messages say what happened and what to do.

Messages never contain secrets: HTTP errors carry a redacted URL and a short,
redacted body excerpt.
"""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE = "docs/spec-reference.md"


class ManifoldError(Exception):
    """Base of every error Manifold raises on purpose."""


@dataclass(frozen=True)
class Location:
    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a connector spec, with where it is and what was expected."""

    location: Location
    message: str
    path: str = ""

    def __str__(self) -> str:
        if not self.path:
            return f"{self.location}: {self.message}"
        from .spec.sections import section_for  # the spec models import this module

        return f"{self.location}: {self.message} (at {self.path}; see {section_for(self.path)})"


class SpecError(ManifoldError):
    """A connector spec has problems; it never starts a sync."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in connector spec:\n{lines}\nSee {REFERENCE}.")


class ConfigError(ManifoldError):
    """A connection's config or the environment is not what the connector needs."""


class TemplateError(ManifoldError):
    """A template failed to render (an undefined name or a bad filter)."""


class PagingError(ManifoldError):
    """Paging cannot go on: a repeated cursor or URL, or the page cap was reached."""


class HttpError(ManifoldError):
    """A request failed for good (after retries, where the failure was retryable)."""

    kind = "http"

    def __init__(self, message: str, *, status: int | None = None, url: str = "", excerpt: str = ""):
        self.status = status
        self.url = url
        self.excerpt = excerpt
        super().__init__(message)


class AuthError(HttpError):
    """401/403: the credentials are missing, wrong, expired or lack a scope."""

    kind = "auth"


class RateLimitError(HttpError):
    """429 that outlasted the retries."""

    kind = "rate_limit"


class ClientError(HttpError):
    """Another 4xx: the request itself is wrong."""

    kind = "client"


class ServerError(HttpError):
    """5xx, a timeout or a connection failure that outlasted the retries."""

    kind = "server"


class WarehouseError(ManifoldError):
    """The warehouse refused a load or a query (the transaction was rolled back: nothing half-loaded)."""


class ResponseError(ManifoldError):
    """A response that cannot be used: not JSON, truncated, or without the records path."""


class StreamError(ManifoldError):
    """A stream failed; says which stream, page and URL."""

    def __init__(
        self, connector: str, stream: str, cause: Exception, *, page: int | None = None, url: str = ""
    ):
        self.connector = connector
        self.stream = stream
        self.cause = cause
        self.page = page
        self.url = url
        where = f"{connector}.{stream}"
        if page is not None:
            where += f" page {page}"
        if url:
            where += f" ({url})"
        section = _SECTIONS.get(type(cause).__name__)
        hint = f" (see {REFERENCE}#{section})" if section else ""
        super().__init__(f"{where}: {cause}{hint}")


#: The reference section about what a stream failure of this kind usually comes from: paging
#: settings, the records path, a mapping's transforms, a template.
_SECTIONS = {
    "PagingError": "streamspec",
    "ResponseError": "streamspec",
    "MappingError": "fieldmapping",
    "CastError": "fieldmapping",
    "TransformValueError": "fieldmapping",
    "TemplateError": "connector-spec-reference",
}
