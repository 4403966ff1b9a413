"""The two errors of the verification layer: a rejected delivery, and a receiver set up wrongly."""

from __future__ import annotations

from ..errors import ManifoldError


class WebhookRejected(ManifoldError):
    """A delivery is refused. `status` is the HTTP answer, `reason` a short phrase for the audit log.

    401: missing, malformed or wrong signature, stale timestamp, untrusted certificate URL.
    400: the delivery is signed but malformed (no event id, a channel message without its headers).
    503: the signing keys or certificate could not be fetched; the provider should retry.

    Reasons never contain secrets, signatures or tokens.
    """

    def __init__(self, reason: str, status: int = 401):
        self.reason = reason
        self.status = status
        super().__init__(f"webhook rejected ({status}): {reason}")


class WebhookConfigError(ManifoldError):
    """The receiver cannot verify anything: no secret rendered, or a secret in the wrong format.

    This is the platform's fault, not the sender's; answer 503 so the provider retries later.
    """
