"""Keep secrets out of every message: known secret values and credential-looking URL params."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
_SENSITIVE_PARAM = re.compile(
    r"(?i)([?&](?:[a-z_]*token|[a-z_]*key|[a-z_]*secret|password|signature|code|client_secret)=)[^&#\s]*"
)


class Redactor:
    """Masks the given secret values and credential-looking query parameters."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            if secret and len(secret) >= 4 and secret not in self._secrets:
                self._secrets.append(secret)
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _SENSITIVE_PARAM.sub(lambda m: m.group(1) + MASK, text)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/?#@]*:)[^?#]*@", re.IGNORECASE)  # to the last @


def redact_url(url: str) -> str:
    """A URL safe to show: its password and credential-looking query parameters masked.

    `postgresql://app:s3cret@db:5432/warehouse?password=x` -> `postgresql://app:***@db:5432/warehouse?password=***`
    """
    return Redactor()(_URL_PASSWORD.sub(lambda m: m.group(1) + MASK + "@", url))
