"""What can go wrong while connecting an account or keeping its token fresh.

No message here ever carries a token, a code, a client secret or a PKCE verifier.
"""

from __future__ import annotations

from ..errors import AuthError, ManifoldError


class OAuthError(ManifoldError):
    """Connecting failed: the provider refused, the code exchange or a post-connect step failed."""


class OAuthStateError(OAuthError):
    """The callback's `state` is not one we issued, was used already, expired, or is for another
    connector or redirect URI. Nothing is stored; start the connect again (HTTP 400)."""


class TokenRequestError(OAuthError):
    """The token endpoint refused a grant or could not be reached.

    `error` is the provider's OAuth error code (`invalid_grant`, `invalid_client`, ...);
    `transient` is true for outages (5xx, 429, timeouts), where reconnecting would not help.
    """

    def __init__(self, message: str, *, status: int | None = None, error: str = "", transient: bool = False):
        super().__init__(message)
        self.status = status
        self.error = error
        self.transient = transient


class ConnectionDisconnected(AuthError):
    """The connection cannot authenticate until a person reconnects it (refresh refused, token
    revoked). Raised without calling the provider again: no retry storm."""
