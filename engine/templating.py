"""Jinja2 templates for spec values, sandboxed and strict, compiled once per spec.

Names available in templates (and nowhere else):

| name         | what it holds                                                     |
|--------------|-------------------------------------------------------------------|
| `config`     | the connection's config (validated against the spec's JSON Schema) |
| `env`        | the connector's declared env vars (`env:` list) only               |
| `secrets`    | the same as `env` (reads better for keys and tokens)               |
| `connection` | `{id, ...}` of the connection being synced                         |
| `state`      | the stream slice's saved state (`cursor`, `token`)                 |
| `parent`     | the parent record, in a substream                                  |
| `partition`  | the partition value, in a partitioned stream                      |
| `parents`    | the batch of parent records (a list), with `parent.batch`         |
| `now`        | the run's start time (UTC datetime)                               |
| `input`      | an action's input (actions only); `result`, `results`, `item` too  |
| `idempotency_key` | an action's idempotency key (actions only)                   |

Templates are rendered once per stream run, partition or parent record: never per
record or per field. A string without `{{` or `{%` is a constant and is never rendered.
"""

from __future__ import annotations

import base64
import email.policy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import SandboxedEnvironment

from .errors import TemplateError

CONNECTOR_NAMES = frozenset({"config", "env", "secrets", "connection", "now"})
REQUEST_NAMES = CONNECTOR_NAMES | {"state", "parent", "partition", "parents"}
ACTION_NAMES = CONNECTOR_NAMES | {"input", "result", "results", "item", "idempotency_key"}
_EXPRESSION = re.compile(r"\A\s*\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%).)*)\}\}\s*\Z", re.S)


def _unix_seconds(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, str):
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    return int(value)


def _iso(value: Any) -> str:
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def _b64(value: Any) -> str:
    return base64.b64encode(str(value).encode()).decode()


def _b64url(value: Any) -> str:
    """URL-safe base64 without padding (RFC 4648 section 5), e.g. Gmail's `raw` message."""
    data = value if isinstance(value, bytes) else str(value).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _addresses(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


def _mime_message(headers: Mapping[str, Any], text: Any = None, html: Any = None) -> str:
    """An RFC 2822 / MIME message with CRLF line ends: headers (None values left out, lists joined
    with ', ', non-ASCII RFC 2047-encoded) and a text body, or text and HTML as
    multipart/alternative.

    >>> print(_mime_message({"To": ["a@x.io"], "Subject": "Hi", "Cc": None}, text="Yo").replace("\r\n", "|"))
    To: a@x.io|Subject: Hi|Content-Type: text/plain; charset="utf-8"|Content-Transfer-Encoding: 7bit|MIME-Version: 1.0||Yo|
    """
    message = EmailMessage(policy=email.policy.SMTP)
    for name, value in headers.items():
        if value is not None and value != "" and value != []:
            message[str(name)] = _addresses(value)
    has_text = text is not None and not isinstance(text, StrictUndefined)
    has_html = html is not None and not isinstance(html, StrictUndefined)
    if has_text:
        message.set_content(str(text))
    if has_html:
        if has_text:
            message.add_alternative(str(html), subtype="html")
        else:
            message.set_content(str(html), subtype="html")
    return message.as_string()


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters["unix_seconds"] = _unix_seconds
    env.filters["iso"] = _iso
    env.filters["b64encode"] = _b64
    env.filters["b64urlencode"] = _b64url
    env.filters["mime_message"] = _mime_message
    return env


_ENV = _environment()


def is_template(source: str) -> bool:
    return "{{" in source or "{%" in source


@dataclass(frozen=True)
class CompiledTemplate:
    """A compiled template; `render(context)` returns a string."""

    source: str
    _template: Any = None

    def render(self, context: Mapping[str, Any]) -> str:
        if self._template is None:
            return self.source
        try:
            return str(self._template.render(context))
        except UndefinedError as exc:
            raise TemplateError(f"template {self.source!r}: {exc.message}") from None
        except Exception as exc:  # a filter failing on a value
            raise TemplateError(f"template {self.source!r}: {type(exc).__name__}: {exc}") from None


def undeclared_names(source: str) -> set[str]:
    """Top-level names a template reads (raises TemplateSyntaxError)."""
    return set(meta.find_undeclared_variables(_ENV.parse(source)))


def compile_template(source: str) -> CompiledTemplate:
    """Compile once; a constant string is kept as is."""
    if not is_template(source):
        return CompiledTemplate(source)
    try:
        return CompiledTemplate(source, _ENV.from_string(source))
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template {source!r}: {exc.message}") from None


def check_template(source: str, allowed: frozenset[str] | set[str]) -> list[str]:
    """Problems with a template: syntax errors (incl. unknown filters) and names outside `allowed`."""
    if not is_template(source):
        return []
    try:
        names = undeclared_names(source)  # parsing also rejects unknown filters
    except TemplateSyntaxError as exc:
        return [f"template syntax error: {exc.message}"]
    problems = [
        f"undefined name '{name}' in template; available here: {', '.join(sorted(allowed))}"
        for name in sorted(names - set(allowed))
    ]
    return problems


def render_value(value: Any, compiled: dict[str, CompiledTemplate], context: Mapping[str, Any]) -> Any:
    """Render templates inside a JSON-like value (strings only; other values pass through)."""
    if isinstance(value, str):
        template = compiled.get(value)
        if template is None:
            template = compiled.setdefault(value, compile_template(value))
        return template.render(context)
    if isinstance(value, dict):
        return {k: render_value(v, compiled, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, compiled, context) for v in value]
    return value


def render_native(value: Any, cache: dict[str, Any], context: Mapping[str, Any]) -> Any:
    """Like `render_value`, but a string that is exactly one `{{ expression }}` keeps the
    expression's own type (a number, a dict, a list, None): for request bodies built from input.

    >>> render_native({"amount": "{{ input.amount }}", "memo": "deal {{ input.id }}"}, {},
    ...               {"input": {"amount": 2000, "id": 7}})
    {'amount': 2000, 'memo': 'deal 7'}
    """
    if isinstance(value, str):
        found = _EXPRESSION.match(value)
        if found is None:
            return render_value(value, cache, context)
        compiled = cache.get(value)
        if compiled is None:
            try:
                compiled = cache.setdefault(
                    value, _ENV.compile_expression(found["expr"], undefined_to_none=False)
                )
            except TemplateSyntaxError as exc:
                raise TemplateError(f"template {value!r}: {exc.message}") from None
        try:
            result = compiled(**context)
        except UndefinedError as exc:
            raise TemplateError(f"template {value!r}: {exc.message}") from None
        except Exception as exc:
            raise TemplateError(f"template {value!r}: {type(exc).__name__}: {exc}") from None
        return None if isinstance(result, StrictUndefined) else result
    if isinstance(value, dict):
        return {k: render_native(v, cache, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_native(v, cache, context) for v in value]
    return value
