"""Normalisers that make two sides of a link comparable, one small function each, one registry.

>>> NORMALIZERS["email"]("Ada Lovelace <Ada@Acme.com>")
'ada@acme.com'
>>> NORMALIZERS["email_domain"]("ada@mail.acme.com"), NORMALIZERS["domain"]("https://www.acme.com/")
('mail.acme.com', 'acme.com')
>>> NORMALIZERS["phone"]("+44 (0)7700 900-123"), NORMALIZERS["phone"]("0044 7700 900123")
('447700900123', '447700900123')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import parseaddr

_DIGITS = re.compile(r"\D+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def email(value: str) -> str | None:
    """The address of 'Name <addr>' or 'addr', lowercased; None when there is no '@'."""
    address = parseaddr(value)[1].strip().lower()
    return address if "@" in address else None


def email_domain(value: str) -> str | None:
    address = email(value)
    return address.rsplit("@", 1)[1] if address else None


def domain(value: str) -> str | None:
    """A domain or URL -> its host without 'www.', lowercased: 'https://www.Acme.com/x' -> 'acme.com'."""
    host = _SCHEME.sub("", value.strip().lower()).split("/", 1)[0].split(":", 1)[0]
    host = host.removeprefix("www.")
    return host or None


def phone(value: str) -> str | None:
    """Digits only, international prefix '00' dropped and a trunk '(0)' removed: WhatsApp's wa_id form.
    Numbers without a country code cannot be told apart from local ones: they stay as entered."""
    text = value.strip().replace("(0)", "")
    digits = _DIGITS.sub("", text)
    if text.startswith("00"):
        digits = digits[2:]
    return digits if len(digits) >= 6 else None


def text(value: str) -> str | None:
    """Trimmed and lowercased."""
    return value.strip().lower() or None


NORMALIZERS: dict[str, Callable[[str], str | None]] = {
    "email": email,
    "email_domain": email_domain,
    "domain": domain,
    "phone": phone,
    "text": text,
}
