"""Cleaning recorded provider records before they become sandbox fixtures (`manifold record`).

    clean = RecordRedactor(rules, secrets=["sk_live_..."]).records(records)

Email addresses become user1@example.com, user2@example.com... (the same address, the same
stand-in, so joins between fixtures still hold); phone numbers written as such (+44 7700 900123,
(415) 555-0134) +1555010xxxx; the connection's
secrets and tokens, anywhere in a string, 'REDACTED'; fields named like secrets, and the rule's
own `fields`, a stand-in of their kind. Ids are left alone unless a rule names them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .spec.models import RedactRules

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w/(])[+(]?\d[\d ()\-.]{7,}\d(?![\w/])")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}")
SECRET_NAMES = re.compile(r"token|secret|password|passwd|authorization|api_?key|client_secret", re.I)


class RecordRedactor:
    def __init__(self, rules: RedactRules, *, mask: Callable[[str], str] = lambda text: text):
        """`mask`: hides the connection's secrets in a text (the runtime's Redactor)."""
        self.fields = set(rules.fields)
        self.keep = set(rules.keep)
        self.mask = mask
        self.emails: dict[str, str] = {}
        self.phones: dict[str, str] = {}
        self.count = 0

    def records(self, records: list[Any]) -> list[Any]:
        return [self._value(r, None) for r in records]

    def _value(self, value: Any, name: str | None) -> Any:
        if name in self.keep:
            return value
        if isinstance(value, dict):
            return {k: self._value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v, name) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        if name is not None and (name in self.fields or SECRET_NAMES.search(name)):
            self.count += 1
            return "REDACTED" if SECRET_NAMES.search(name) else f"redacted {name}"
        return self._text(str(value))

    def _text(self, text: str) -> str:
        before = text
        text = self.mask(text)
        text = EMAIL.sub(self._email, text)
        text = PHONE.sub(self._phone, text)
        if text != before:
            self.count += 1
        return text

    def _email(self, match: re.Match[str]) -> str:
        found = match.group(0).lower()
        return self.emails.setdefault(found, f"user{len(self.emails) + 1}@example.com")

    def _phone(self, match: re.Match[str]) -> str:
        text = match.group(0)
        found = re.sub(r"\D", "", text)
        # Written like a phone number: '+' first or grouped by spaces, dashes or brackets, and
        # neither a date nor a decimal. Bare digit strings (ids, unix times, WhatsApp's wa_id)
        # are left alone: name such fields in `sandbox.redact.fields`.
        written = text.startswith("+") or any(c in text for c in " ()-")
        if not written or DATE.search(text) or "." in text or not 9 <= len(found) <= 15:
            return text
        return self.phones.setdefault(found, f"+1555010{len(self.phones) + 1:04d}")
